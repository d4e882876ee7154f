"""One request option set: every command that asks for a VM takes all of `up`'s options."""

from __future__ import annotations

import typer.main
from typer.testing import CliRunner

from provisioner.cli.main import app
from provisioner.cli.request_options import OPTIONS


def option_names(command: str) -> set[str]:
    click_command = typer.main.get_command(app).commands[command]  # type: ignore[attr-defined]
    return {name for param in click_command.params for name in param.opts}


def test_run_takes_every_option_up_takes() -> None:
    wanted = {f"--{name.replace('_', '-')}" for name in OPTIONS}
    assert wanted <= option_names("up")
    assert wanted <= option_names("run")


def test_run_with_gpu_and_spot_gets_past_option_parsing(tmp_path, monkeypatch) -> None:
    """`run --provider any --gpu T4:1 --spot` was 'No such option: --gpu' (exit 2)."""
    monkeypatch.setenv("PROVISIONER_HOME", str(tmp_path))
    monkeypatch.setenv("PROVISIONER_ENGINE", "simulated")
    result = CliRunner().invoke(
        app, ["run", "--provider", "any", "--gpu", "T4:1", "--spot", "--ttl", "1", "--", "true"]
    )
    assert "No such option" not in result.output
    assert "Auto-terminate" in result.output  # refused by the rules (ttl 1), not by the parser
    assert result.exit_code == 2
