"""Where in a TOML file an error is: every file of a pack reports its line."""

from __future__ import annotations

import re
import tomllib

_TOML_LINE = re.compile(r"at line (\d+)")


def toml_error_line(error: tomllib.TOMLDecodeError) -> int | None:
    """The line a TOML error is on (Python 3.11's error carries it only in its message)."""
    line = getattr(error, "lineno", None)
    if isinstance(line, int):
        return line
    found = _TOML_LINE.search(str(error))
    return int(found.group(1)) if found else None
