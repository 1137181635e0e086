"""Time-ordered event ids (UUIDv7, RFC 9562).

Ids sort by creation time as plain strings, which is what the newest-first keyset pagination
in :mod:`audit.query` relies on. The 12 ``rand_a`` bits carry the sub-millisecond fraction
(RFC 9562 section 6.2, method 3) so ids made by different processes within one millisecond
still sort by time; a per-process guard keeps ids strictly increasing within a process even
when the clock stands still or steps back.
"""

from __future__ import annotations

import os
import threading
import time

_lock = threading.Lock()
_last = 0


def new_event_id() -> str:
    global _last
    with _lock:
        # 48 bits of milliseconds followed by 12 bits of sub-millisecond fraction.
        nanos = time.time_ns()
        stamp = ((nanos // 1_000_000) << 12) | ((nanos % 1_000_000) * 4096 // 1_000_000)
        if stamp <= _last:
            stamp = _last + 1
        _last = stamp
    millis, fraction = stamp >> 12, stamp & 0xFFF
    tail = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (millis << 80) | (0x7 << 76) | (fraction << 64) | (0b10 << 62) | tail
    digits = f"{value:032x}"  # what str(uuid.UUID(int=value)) gives, without the object
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"
