"""AWS's cloud-side deadline: an EventBridge Scheduler one-time schedule that terminates the
instance at the hard deadline, whatever happens on the VM.

The on-VM deadman (`shutdown -h` at the deadline, with `instance_initiated_shutdown_behavior =
terminate`) can be cancelled by the sudo-capable login user or a setup script. The schedule lives
in the account, not on the VM, so nothing the VM does can cancel it: GCP's counterpart is
`scheduling.termination_time`, Azure's the DevTest Labs shutdown schedule (stop + deallocate).

- `at(yyyy-mm-ddThh:mm:ss)` in UTC, flexible window OFF: it fires once, at the deadline.
- The target is Scheduler's universal target for `ec2:TerminateInstances` on this one instance.
- The role Scheduler assumes may do exactly that: `ec2:TerminateInstances` on this instance's ARN,
  and only while it carries `provisioner:managed-by=provisioner`. Its trust policy admits only
  scheduler.amazonaws.com, for schedules of this account.
- `action_after_completion = "DELETE"`: the schedule removes itself once it has fired; the stack's
  destroy then finds it gone (not an error) and deletes the role.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws.ec2 as ec2
import pulumi_aws.iam as iam
import pulumi_aws.scheduler as scheduler

from stacks.deadman import parse_deadline
from stacks.spec import TAG_MANAGED_BY, InstanceSpec

_LOADED = (iam.Role, iam.RolePolicy, scheduler.Schedule)  # lazy submodules: see stacks/aws.py

TERMINATE_TARGET = "arn:aws:scheduler:::aws-sdk:ec2:terminateInstances"
# IAM role names and schedule names share this prefix: docs/aws-iam-policy.json scopes the IAM
# and Scheduler actions to it.
NAME_PREFIX = "provisioner-"
SUFFIX = "-deadline"


def backstop_name(spec: InstanceSpec) -> str:
    """`provisioner-<stack>-deadline` (IAM roles and schedules: at most 64 characters)."""
    return f"{NAME_PREFIX}{spec.stack_name}"[: 64 - len(SUFFIX)] + SUFFIX


def at_expression(hard_deadline: str) -> str:
    return f"at({parse_deadline(hard_deadline).strftime('%Y-%m-%dT%H:%M:%S')})"


def _trust_policy() -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "scheduler.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )


def _terminate_policy(instance_arn: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "ec2:TerminateInstances",
                    "Resource": instance_arn,
                    "Condition": {
                        "StringEquals": {f"aws:ResourceTag/{TAG_MANAGED_BY}": "provisioner"}
                    },
                }
            ],
        }
    )


def declare(
    spec: InstanceSpec, instance: ec2.Instance, tags: dict[str, str], opts: pulumi.ResourceOptions
) -> scheduler.Schedule:
    name = backstop_name(spec)
    role = iam.Role(
        "deadline-role",
        name=name,
        description=f"provisioner {spec.instance_id}: terminate it at the hard deadline",
        assume_role_policy=_trust_policy(),
        tags=tags,
        opts=opts,
    )
    policy = iam.RolePolicy(
        "deadline-policy",
        name="terminate-at-deadline",
        role=role.name,
        policy=instance.arn.apply(_terminate_policy),
        opts=opts,
    )
    return scheduler.Schedule(
        "deadline",
        name=name,
        description=f"provisioner {spec.instance_id}: the hard deadline (cannot be cancelled "
        "from the VM)",
        schedule_expression=at_expression(spec.hard_deadline),
        schedule_expression_timezone="UTC",
        flexible_time_window=scheduler.ScheduleFlexibleTimeWindowArgs(mode="OFF"),
        action_after_completion="DELETE",
        target=scheduler.ScheduleTargetArgs(
            arn=TERMINATE_TARGET,
            role_arn=role.arn,
            input=instance.id.apply(lambda iid: json.dumps({"InstanceIds": [iid]})),
            retry_policy=scheduler.ScheduleTargetRetryPolicyArgs(
                maximum_event_age_in_seconds=3600, maximum_retry_attempts=20
            ),
        ),
        opts=opts.merge(pulumi.ResourceOptions(depends_on=[policy])),
    )
