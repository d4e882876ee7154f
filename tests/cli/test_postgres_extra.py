"""#21: psycopg is the `postgres` extra. Without it, a PostgreSQL database URL stops with one line
naming the extra (exit 2), not a ModuleNotFoundError from deep inside SQLAlchemy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# The CLI, in a fresh interpreter where psycopg cannot be imported (as after a base install).
WITHOUT_PSYCOPG = (
    "import sys; sys.modules['psycopg'] = None; "
    "from provisioner.cli.main import main; sys.argv = ['provisioner', *sys.argv[1:]]; main()"
)


def test_a_postgresql_url_without_the_extra_names_it_in_one_line(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "PROVISIONER_HOME": str(tmp_path / "home"),
        "PROVISIONER_DATABASE_URL": "postgresql://someone:secret@localhost/ledger",
    }
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_PSYCOPG, "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'provisioner[postgres]'" in lines[0], done.stderr
    assert "secret" not in done.stderr
