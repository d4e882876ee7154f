"""Read-only commands import only what they need, and work without any cloud SDK (#16).

Each command runs in its own interpreter (as a user starts it) on a ledger that is already at
the schema head; the test asserts which heavy modules were not imported, never how long it took.
A `sitecustomize` on PYTHONPATH blocks the cloud SDKs' imports, as an install without the
`aws`/`azure`/`gcp` extras would have them missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]

# Never needed to read the ledger or the catalog.
HEAVY = (
    "pulumi",
    "pulumi_aws",
    "pulumi_azure_native",
    "pulumi_gcp",
    "fastapi",
    "starlette",
    "uvicorn",
    "tenacity",
    "alembic",  # the schema is current: a cheap version check, no migration machinery
    "httpx",
    "matplotlib",
    "cryptography",
    # Not listed: sqlalchemy.dialects.sqlite.aiosqlite, which SQLAlchemy's sqlite package itself
    # imports with the dialect any SQLite ledger needs.
    "sqlalchemy.dialects.postgresql",  # on a SQLite ledger
    "sqlalchemy.ext.asyncio",
    "provisioner.engine.simulated.engine",
    "provisioner.engine.pulumi.engine",
    "stacks.aws",
    "stacks.azure",
)

RUN = """
import json, runpy, sys
heavy = json.loads(sys.argv[2])
sys.argv = ['provisioner', *json.loads(sys.argv[1])]
code = 0
try:
    runpy.run_module('provisioner.cli.main', run_name='__main__')
except SystemExit as exc:
    code = exc.code or 0
print('RESULT', json.dumps({'code': code, 'loaded': sorted(m for m in heavy if m in sys.modules)}))
"""

BLOCK_SDKS = """
import sys

class _NoCloudSdks:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('pulumi_aws', 'pulumi_azure_native', 'pulumi_gcp'):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
        return None

sys.meta_path.insert(0, _NoCloudSdks())
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCK_SDKS)
    home = tmp_path / "home"
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(blocker), str(ROOT)]),
        "PROVISIONER_HOME": str(home),
        "PROVISIONER_ENGINE": "simulated",
    }
    environment.pop("PROVISIONER_DATABASE_URL", None)
    run(environment, ["list"])  # migrate once: later commands find the schema current
    return environment


def run(env: dict[str, str], args: list[str]) -> tuple[int, list[str], str]:
    out = subprocess.run(
        [sys.executable, "-c", RUN, json.dumps(args), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )
    line = next(x for x in out.stdout.splitlines() if x.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    return result["code"], result["loaded"], out.stdout + out.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["list"],
        ["list", "--json"],
        ["stats"],
        ["stats", "--json", "--since", "2026-11-01"],
        ["show", "inst-000000000000"],
        ["types"],
        ["types", "--provider", "aws", "--json"],
    ],
)
def test_read_only_commands_import_no_heavy_module(env, args):
    code, loaded, output = run(env, args)
    expected = 2 if args[0] == "show" else 0  # an unknown id is bad input
    assert code == expected, output
    assert loaded == [], f"{' '.join(args)} imported {loaded}"


def test_up_for_a_cloud_without_its_sdk_names_the_extra(env):
    code, _, output = run(
        env, ["up", "--provider", "aws", "--instance-type", "g4dn.xlarge", "--simulate"]
    )
    assert code == 2
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: Provider AWS needs its Pulumi SDK (pulumi-aws), which is not installed: "
        "pip install 'provisioner[aws]' (or run ./scripts/bootstrap.sh)"
    ], output
    code, _, output = run(env, ["list", "--json"])
    assert code == 0 and '"count": 0' in output  # nothing was recorded


@pytest.mark.parametrize("args", [["stats"], ["stats", "--json", "--since", "2026-11-01"]])
def test_stats_reads_the_ledger_without_the_service(env, args):
    """A read needs the ledger, not the service's provisioning, failover and engines (#21)."""
    out = subprocess.run(
        [sys.executable, "-c", RUN, json.dumps(args), json.dumps(["provisioner.ops.service"])],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )
    line = next(x for x in out.stdout.splitlines() if x.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    assert result == {"code": 0, "loaded": []}, out.stdout + out.stderr
