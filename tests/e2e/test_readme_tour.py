"""The README's Tour, followed literally: its commands run with bash against a live demo server.

The commands are the fenced ``sh`` blocks under the ``## Tour`` heading. In a block, the
lines up to a ``# -> STATUS TEXT...`` line are one command (continuations and multi-line
quotes included), and that line is its expected answer: the HTTP status, which the command
prints on its last line (``curl -w '\\n%{http_code}\\n'``), then whitespace-separated pieces
of text the body must contain. Lines after the last expectation of a block must simply
succeed. Every command runs in a fresh ``bash`` that has first sourced the tokens file the
server wrote, from a directory where that file is ``instance/demo-tokens.env``, exactly as a
reader would from the checkout.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.server_process import running_server

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"
EXPECT = re.compile(r"^# -> (?P<status>\d{3})(?P<texts>(?:\s+\S+)*)\s*$")


@dataclass(frozen=True)
class Step:
    command: str
    status: int | None  # None: the command must only succeed
    texts: tuple[str, ...]
    line: int  # of the README, for the failure message


def tour_section(readme: str) -> tuple[str, int]:
    """The text of the Tour section and the README line it starts on."""
    match = re.search(r"^## Tour\n(?P<body>.*?)(?=^## )", readme, re.MULTILINE | re.DOTALL)
    assert match is not None, "the README has no '## Tour' section"
    return match["body"], readme[: match.start("body")].count("\n") + 1


def tour_steps(readme: str) -> list[Step]:
    section, first_line = tour_section(readme)
    steps: list[Step] = []
    for block in re.finditer(r"^```sh\n(?P<code>.*?)^```$", section, re.MULTILINE | re.DOTALL):
        line = first_line + section[: block.start("code")].count("\n")
        pending: list[str] = []
        for offset, text in enumerate(block["code"].splitlines()):
            expected = EXPECT.match(text)
            if expected is None:
                pending.append(text)
                continue
            command = "\n".join(pending).strip()
            assert command, f"README.md:{line + offset}: an expectation with no command"
            steps.append(
                Step(command, int(expected["status"]), tuple(expected["texts"].split()), line)
            )
            pending = []
        if "\n".join(pending).strip():
            steps.append(Step("\n".join(pending).strip(), None, (), line))
    return steps


def test_the_tour_is_found_and_covers_every_seed_system() -> None:
    steps = tour_steps(README.read_text())
    checked = [s for s in steps if s.status is not None]
    assert len(checked) >= 15
    commands = "\n".join(s.command for s in steps)
    for account in ("demo/", "demo-cascade/", "demo-guarded/", "demo-purge/"):
        assert f"/v1/accounts/{account}" in commands
    assert steps[0].command == "source instance/demo-tokens.env"
    expected = {(s.status, t) for s in checked for t in s.texts}
    for answer in (
        (200, '"days_left":60'),
        (422, "not_a_delete"),
        (409, "active_workflow_enrollment"),
        (409, "not_in_trash"),
    ):
        assert answer in expected


@pytest.mark.skipif(shutil.which("curl") is None, reason="the tour's commands use curl")
def test_the_readme_tour_runs_as_written_against_a_demo_server(tmp_path: Path) -> None:
    steps = tour_steps(README.read_text())
    instance = tmp_path / "instance"
    instance.mkdir()
    env = {
        "POLICY_SERVICE_DATABASE_URL": f"sqlite:///{instance / 'policy_service.sqlite3'}",
        # The tokens file is written beside the keys: instance/demo-tokens.env here too.
        "POLICY_SERVICE_AUDIT_SIGNING_KEY": str(instance / "audit_signing_key.pem"),
        "POLICY_SERVICE_AUDIT_ENCRYPTION_KEY": str(instance / "audit_encryption_key.bin"),
    }
    with running_server(env, "--demo", log=tmp_path / "server.log"):
        tokens = instance / "demo-tokens.env"
        assert tokens.exists(), (tmp_path / "server.log").read_text()
        for step in steps:
            run(step, tmp_path)


def run(step: Step, where: Path) -> None:
    deadline = time.monotonic() + 10
    while True:
        result = subprocess.run(
            ["bash", "-c", f"set -e\nsource instance/demo-tokens.env\n{step.command}"],
            cwd=where,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(where)},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        problem = judge(step, result)
        # A read may see a background job still at work: ask again, as a reader would.
        if problem is None or " -X " in step.command or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert problem is None, f"README.md:{step.line}: {problem}\n$ {step.command}"


def judge(step: Step, result: subprocess.CompletedProcess[str]) -> str | None:
    if result.returncode != 0:
        return f"exit {result.returncode}: {result.stderr.strip()}"
    if step.status is None:
        return None
    lines = result.stdout.rstrip("\n").split("\n")
    status, body = lines[-1].strip(), "\n".join(lines[:-1])
    if status != str(step.status):
        return f"expected {step.status}, got {status}: {body[:600]}"
    missing = [text for text in step.texts if text not in body]
    if missing:
        return f"the answer lacks {missing}: {body[:1500]}"
    return None
