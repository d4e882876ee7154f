"""The cost report's chart is the `charts` extra (#21): without matplotlib, `cost-report --html`
says in one line what to install, exits 2 and writes nothing; the plain report still works.

Runs the CLI in its own interpreter with a `sitecustomize` that makes matplotlib unimportable,
as an install without the extra would have it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]

BLOCK_MATPLOTLIB = """
import sys

class _NoCharts:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] == 'matplotlib':
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
        return None

sys.meta_path.insert(0, _NoCharts())
"""


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "provisioner.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )


def test_html_report_without_the_charts_extra_names_it(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCK_MATPLOTLIB)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(blocker), str(ROOT)]),
        "PROVISIONER_HOME": str(tmp_path / "home"),
        "PROVISIONER_ENGINE": "simulated",
    }
    env.pop("PROVISIONER_DATABASE_URL", None)
    page = tmp_path / "report.html"

    done = run(env, "cost-report", "--html", str(page))

    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: --html draws its charts with matplotlib, which is not installed: "
        "pip install 'provisioner[charts]'"
    ]
    assert not page.exists()
    plain = run(env, "cost-report", "--json")
    assert plain.returncode == 0, plain.stderr
    assert '"success": true' in plain.stdout
