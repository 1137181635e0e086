"""The valid value closest to a mistyped one, for "did you mean" in a 400 or 422."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest_choice(value: object, choices: Iterable[str]) -> str | None:
    """The valid choice closest to what was sent (``web`` -> ``web_form``), if any is close."""
    if not isinstance(value, str) or not value:
        return None
    options = list(choices)
    lowered = value.strip().lower()
    if lowered in options:
        return lowered  # a matter of case or spaces
    close = difflib.get_close_matches(lowered, options, n=1, cutoff=0.5)
    if close:
        return close[0]
    starting = [c for c in options if c.startswith(lowered) or lowered.startswith(c)]
    return starting[0] if len(starting) == 1 else None
