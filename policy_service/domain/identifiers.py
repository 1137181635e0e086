"""What an id may look like.

Ids reach Casbin, logs and SQL. Restricting them keeps out separators (commas break Casbin's
CSV rules), control characters (log injection) and unbounded sizes, while still admitting
the opaque base64 subject ids that identity providers hand out.
"""

from __future__ import annotations

import re

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@:+/=-]{0,127}$")
ACCOUNT_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
ROLE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
ACTION_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}(\.[A-Za-z][A-Za-z0-9_]{0,63})*$")

# Domains with a meaning of their own in rules: every account, and platform-wide roles.
ANY_ACCOUNT = "*"
PLATFORM_DOMAIN = "platform"
RESERVED_ACCOUNT_IDS = frozenset({ANY_ACCOUNT, PLATFORM_DOMAIN})


def is_valid_id(value: object) -> bool:
    return isinstance(value, str) and ID_PATTERN.fullmatch(value) is not None


def is_valid_account_id(value: object) -> bool:
    return (
        isinstance(value, str)
        and ACCOUNT_ID_PATTERN.fullmatch(value) is not None
        and value not in RESERVED_ACCOUNT_IDS
    )
