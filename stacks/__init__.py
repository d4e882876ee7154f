"""Pulumi programs for one GPU VM per stack. They import pulumi and the provider SDKs, never
the provisioner package. `program_for(spec)` returns the inline program for a spec."""

from __future__ import annotations

from collections.abc import Callable

from stacks.spec import InstanceSpec, missing_sdk


class MissingCloudSdkError(ImportError):
    """The provider's Pulumi SDK is not installed: the message names the extra to install."""


def program_for(spec: InstanceSpec) -> Callable[[], None]:
    """The inline program declaring `spec`'s VM; the provider SDK is imported only here."""
    if spec.provider == "AWS":
        from stacks import aws

        return lambda: aws.program(spec)
    if spec.provider == "AZURE":
        from stacks import azure

        return lambda: azure.program(spec)
    if spec.provider == "GCP":
        problem = missing_sdk("GCP")
        if problem:
            raise MissingCloudSdkError(problem)
        from stacks import gcp

        return lambda: gcp.program(spec)
    raise ValueError(f"no program for provider {spec.provider!r}")
