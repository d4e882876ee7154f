"""Local-program entry point (`Pulumi.yaml` main: stacks/): reads the spec from stack config."""

import pulumi

from stacks import program_for
from stacks.spec import CONFIG_KEY, InstanceSpec

program_for(InstanceSpec.from_json(pulumi.Config().require(CONFIG_KEY)))()
