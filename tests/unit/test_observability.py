"""Log lines in the readable (console) format cannot be forged or garbled by a caller."""

import json
import logging
import sys

import pytest
import structlog

from policy_service.config import Settings
from policy_service.observability import _escape_controls, _redact, configure_logging


def test_control_characters_from_a_caller_are_escaped_in_console_lines() -> None:
    event = {"path": "/v1/x\x1b[31mred\x00", "agent": "a\nforged line", "method": "GET\t"}
    escaped = _escape_controls(None, "info", dict(event))
    assert escaped["path"] == "/v1/x\\x1b[31mred\\x00"
    assert escaped["agent"] == "a\\x0aforged line"
    assert escaped["method"] == "GET\t"  # a tab garbles nothing


def test_a_traceback_keeps_its_lines() -> None:
    trace = "Traceback (most recent call last):\n  File ...\nValueError"
    assert _escape_controls(None, "error", {"exception": trace})["exception"] == trace


def test_personal_data_and_secrets_are_redacted_whatever_their_case() -> None:
    event = _redact(None, "info", {"Email": "ada@example.com", "token": "pst_x", "ok": 1})
    assert event == {"Email": "[redacted]", "token": "[redacted]", "ok": 1}


class _Recorder:
    def __init__(self) -> None:
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return len(text)

    def flush(self) -> None:
        pass


def test_each_log_line_is_one_write_so_workers_sharing_stderr_do_not_interleave(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorder = _Recorder()
    monkeypatch.setattr(sys, "stderr", recorder)
    handlers = list(logging.getLogger().handlers)
    configure_logging(Settings.from_env({}, environment="test", log_format="json"))
    try:
        structlog.get_logger("a.test").warning("two.workers", worker=1)
        (line,) = [w for w in recorder.writes if "two.workers" in w]
        assert line.endswith("\n")
        assert json.loads(line)["event"] == "two.workers"
        assert "\n" not in recorder.writes  # no newline written on its own
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers[:] = handlers
