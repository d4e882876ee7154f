"""Installed size per extra: creates a fresh venv for each of `provisioner` (no cloud),
`provisioner[aws]`, `[azure]`, `[gcp]` and `[all]`, installs it (not editable, from this
checkout, through pip's usual index and cache) and prints the size of its site-packages, with the
five largest distributions. Takes minutes and a few GB of disk under a temporary directory.

Usage: .venv/bin/python bench/install_size.py [--extras none,aws,azure,gcp,all] [--keep DIR]
"""

# bench: no-database

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).parents[1]


def tree_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def site_packages(venv: Path) -> Path:
    return next((venv / "lib").glob("python3*/site-packages"))


def distributions(site: Path) -> list[tuple[str, int]]:
    """Each distribution's size from its RECORD (the files pip installed for it, .pyc included)."""
    sizes = []
    for record in site.glob("*.dist-info/RECORD"):
        total = 0
        for line in record.read_text().splitlines():
            path = line.rsplit(",", 2)[0]
            file = (site / path).resolve()
            if file.is_file():
                total += file.stat().st_size
        sizes.append((record.parent.name.split("-")[0], total))
    return sorted(sizes, key=lambda r: -r[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--extras", default="none,aws,azure,gcp,all")
    parser.add_argument("--keep", type=Path, help="build the venvs here and keep them")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = args.keep or Path(tmp)
        empty = base / "venv-empty"
        subprocess.run([sys.executable, "-m", "venv", str(empty)], check=True)
        floor = tree_size(site_packages(empty))
        print(f"{'install':<26}{'MB':>8}{'s':>6}  largest distributions (MB)")
        for extra in args.extras.split(","):
            venv = base / f"venv-{extra}"
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            target = str(ROOT) if extra == "none" else f"{ROOT}[{extra}]"
            started = time.perf_counter()
            done = subprocess.run(
                [
                    str(venv / "bin" / "python"),
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    target,
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            took = time.perf_counter() - started
            name = "provisioner" if extra == "none" else f"provisioner[{extra}]"
            if done.returncode != 0:
                print(f"{name:<26} install failed: {done.stderr.strip().splitlines()[-1:]}")
                continue
            site = site_packages(venv)
            size = tree_size(site) - floor
            largest = ", ".join(f"{d} {s / 1e6:.0f}" for d, s in distributions(site)[:5])
            print(f"{name:<26}{size / 1e6:>8.0f}{took:>6.0f}  {largest}")


if __name__ == "__main__":
    main()
