"""structlog, set up in one place: JSON lines in production, readable console in development.

A redaction step runs last before rendering, so a token, an email or a phone number never
reaches a log line even when a caller binds one by mistake.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from policy_service.config import Settings

REDACTED_KEYS = frozenset(
    {"authorization", "token", "password", "secret", "email", "phone", "name", "identity"}
)


def _redact(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in event:
        if key.lower() in REDACTED_KEYS:
            event[key] = "[redacted]"
    return event


# C0 and C1 control characters but tab: a caller's path or header could otherwise put an
# escape sequence (recolouring a terminal), a NUL (turning the file "binary") or a newline
# (a forged line) in the log. A traceback keeps its lines.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def _escape_controls(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """The console renderer writes strings as they are (JSON escapes them itself)."""
    for key, value in event.items():
        if key != "exception" and isinstance(value, str) and _CONTROL.search(value):
            event[key] = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", value)
    return event


def configure_logging(settings: Settings) -> None:
    level = logging.getLevelName(settings.log_level.upper())
    if not isinstance(level, int):
        level = logging.INFO
    json_lines = settings.log_format == "json" or settings.is_production
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json_lines
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redact,
            *(() if json_lines else (_escape_controls,)),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # One write per line, newline included: print() writes the newline separately, and
        # two workers sharing stderr then interleave their lines ("{...}{...}\n\n").
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    # Third-party libraries log through the standard library; keep them at the same level.
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    logging.getLogger("casbin").setLevel(logging.ERROR)
