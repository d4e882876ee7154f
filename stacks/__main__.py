"""Local-program entry point (`Pulumi.yaml` main: stacks/): reads the spec from stack config.

provisioner itself runs the programs inline; this is for `pulumi up` by hand in the repo, e.g.
`pulumi config set spec "$(cat spec.json)" && pulumi up`.
"""

import sys
from pathlib import Path

import pulumi

# Pulumi runs this file with stacks/ as sys.path[0]; the package lives one level up.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stacks import program_for
from stacks.spec import CONFIG_KEY, InstanceSpec

program_for(InstanceSpec.from_json(pulumi.Config().require(CONFIG_KEY)))()
