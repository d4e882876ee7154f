"""The README's five-minute walkthrough, run as written: its command-line block and its API block
(a real `provisioner serve --simulate` on 127.0.0.1, then the curl calls), and its Python example.
The blocks are read from README.md, so the README cannot drift from what works. The test sets up
what the README's set-up lines do (the project's `.venv/bin` on PATH, the simulated engine, a
ledger of its own) and swaps the API's port 8000 for a free one; nothing else is changed."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from apiclient import free_port
from serving import die_with_the_tests

ROOT = Path(__file__).parents[2]
README = (ROOT / "README.md").read_text()


def block(name: str) -> str:
    match = re.search(rf"<!-- walkthrough:{name}\b.*?-->\n```\w+\n(.*?)```", README, re.S)
    assert match, f"README.md has no walkthrough:{name} block"
    return match.group(1)


@pytest.fixture
def shell_env(tmp_path: Path, monkeypatch) -> dict[str, str]:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PROVISIONER_ENGINE": "simulated",
        "PROVISIONER_HOME": str(tmp_path / "walkthrough"),
    }
    env.pop("PROVISIONER_DATABASE_URL", None)
    return env


def bash(script: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_the_readme_set_up_lines_are_the_ones_the_test_mirrors():
    assert "export PATH=$PWD/.venv/bin:$PATH" in README
    assert "export PROVISIONER_ENGINE=simulated PROVISIONER_HOME=" in README


def test_the_command_line_walkthrough_runs_as_written(shell_env, tmp_path):
    script = block("cli")
    for command in ("up", "list", "show", "events", "extend", "down", "stats", "cost-report"):
        assert f"provisioner {command}" in script
    done = bash(script, shell_env, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "TERMINATED" in done.stdout and "final cost" in done.stdout
    assert "instances provisioned   2" in done.stdout
    assert (tmp_path / "spend.html").read_text().count("<svg") == 2


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed (.ci/run does)")
def test_the_api_walkthrough_runs_as_written_against_a_real_server(shell_env, tmp_path):
    port = free_port()
    lines = block("api").replace("8000", str(port)).split("\n", 1)
    serve, rest = lines[0], lines[1]
    assert serve.startswith("provisioner serve --simulate")
    assert "export TOKEN=$(provisioner token create --user user-123)" in rest
    server = subprocess.Popen(
        ["bash", "-c", f"exec {serve.split('#')[0]}"],
        env=shell_env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=die_with_the_tests,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline, "serve did not start"
                assert server.poll() is None, "serve exited"
                time.sleep(0.2)
        done = bash(rest, shell_env, tmp_path)
    finally:
        server.terminate()
        server.wait(60)
    assert done.returncode == 0, done.stdout + done.stderr
    replies = [json.loads(line) for line in _json_documents(done.stdout)]
    assert [r["success"] for r in replies] == [True, True, True, True], done.stdout
    created, listed, stats, deleted = replies
    assert created["instance"]["status"] == "READY"
    assert created["instance"]["engine"] == "simulated"
    assert created["instance"]["id"] in {i["id"] for i in listed["instances"]}
    assert stats["statistics"]["totalProvisioned"] == 1
    assert deleted["instance"]["id"] == created["instance"]["id"]
    assert deleted["instance"]["status"] == "TERMINATED"


def _json_documents(text: str) -> list[str]:
    """Each curl reply (curl prints no newline between them)."""
    decoder, found, at = json.JSONDecoder(), [], 0
    text = text.strip()
    while at < len(text):
        obj, end = decoder.raw_decode(text, at)
        found.append(json.dumps(obj))
        at = end
        while at < len(text) and text[at].isspace():
            at += 1
    return found


def test_the_python_example_runs_offline_as_written(shell_env, tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", block("python")],
        env=shell_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ready inst-")
    assert "203.0.113." in done.stdout  # a simulated public IP, documentation space
