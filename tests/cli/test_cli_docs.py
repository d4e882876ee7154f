"""#27: the help and the docs agree. Every command `provisioner --help` lists is documented
(README or docs/), every `provisioner X` the docs show is a real command, and the README's list
of commands without `--json` is exactly the commands that lack it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer.main

from provisioner.cli.main import app

ROOT = Path(__file__).parents[2]


def docs_text() -> str:
    return "\n".join(
        p.read_text() for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    )


def commands() -> dict[str, Any]:
    found: dict[str, Any] = {}

    def walk(group: Any, prefix: str) -> None:
        for name, command in group.commands.items():
            if command.hidden:
                continue
            full = f"{prefix}{name}"
            if hasattr(command, "commands"):  # a group (Typer may vendor its own click)
                walk(command, f"{full} ")
            else:
                found[full] = command

    walk(typer.main.get_command(app), "")  # type: ignore[arg-type]
    return found


def documented(name: str, text: str) -> bool:
    """`provisioner NAME`, `NAME ...`, or a group's `GROUP a|b|c` naming it."""
    if f"provisioner {name}" in text or f"`{name}" in text:
        return True
    group, _, sub = name.rpartition(" ")
    return bool(group) and re.search(rf"`{group} [^`]*\b{sub}\b", text) is not None


def test_every_command_in_the_help_is_documented():
    text = docs_text()
    missing = [name for name in commands() if not documented(name, text)]
    assert missing == []


def test_every_command_the_docs_show_exists():
    known = {name.split()[0] for name in commands()}
    text = docs_text()
    # In inline code (`provisioner X ...`) and in shell lines of code blocks.
    shown = set(re.findall(r"`provisioner ([a-z][a-z-]+)", text))
    shown |= set(re.findall(r"(?m)^\s*(?:\$ )?(?:\S+=\$\()?provisioner ([a-z][a-z-]+)", text))
    unknown = sorted(shown - known)
    assert unknown == []


def test_the_readmes_list_of_commands_without_json_is_true():
    readme = (ROOT / "README.md").read_text()
    found = re.search(r"do not: (.*?) \(tests/cli/test_cli_docs\.py", readme, re.DOTALL)
    assert found, "README lost its list of commands without --json"
    listed = set(re.findall(r"`([a-z][a-z -]*)`", found.group(1)))
    without = {
        name
        for name, command in commands().items()
        if "--json" not in {o for p in command.params for o in getattr(p, "opts", ())}
    }
    assert listed == without
