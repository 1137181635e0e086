"""Log lines in the readable (console) format cannot be forged or garbled by a caller."""

from policy_service.observability import _escape_controls, _redact


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
