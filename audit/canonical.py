"""The canonical encoding that event hashes and checkpoint signatures are computed over.

README.md states it for auditors who re-implement verification; keep the two in step. In
short: a JSON object of every event field except ``hash``, keys sorted, no whitespace,
UTF-8 without escaping non-ASCII, explicit ``null`` for absent values, timestamps as UTC
``YYYY-MM-DDTHH:MM:SS.ffffffZ``, no floats anywhere. Within that value domain the output is
the RFC 8785 (JCS) serialization, so non-Python implementations can produce the same bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

FORMAT_VERSION: Final = 1

#: Every key of a canonical event record, in the (sorted) order they are serialized.
EVENT_FIELDS: Final = (
    "account_id",
    "action",
    "actor_id",
    "actor_roles",
    "actor_type",
    "cascade_profile",
    "cascade_profile_version",
    "chain",
    "client_id",
    "details",
    "dsr_id",
    "event_id",
    "job_id",
    "occurred_at",
    "on_behalf_of",
    "outcome",
    "policy_version",
    "prev_hash",
    "protected",
    "reason_code",
    "recorded_at",
    "request_id",
    "seq",
    "subject_id",
    "target_id",
    "target_type",
    "v",
)

# JSON integers beyond 2**53 lose precision in many languages' parsers (RFC 8785 / I-JSON).
_MAX_SAFE_INT: Final = 2**53 - 1

_encoder = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def _refuse(value: object) -> object:
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# The C encoder that ``_encoder.encode`` builds anew on every call, built once: that is a
# fifth of the cost of encoding an event. Same settings (sorted keys, compact separators,
# non-ASCII kept, NaN refused); no cycle check, as what is encoded is a checked copy or
# parsed JSON, neither of which can hold a cycle.
_make_encoder = getattr(json.encoder, "c_make_encoder", None)
_c_encoder: Final = (
    None
    if _make_encoder is None
    else _make_encoder(
        None, _refuse, json.encoder.encode_basestring, None, ":", ",", True, False, False
    )
)


def _text(value: Any) -> str:
    if _c_encoder is None or isinstance(value, str):
        return _encoder.encode(value)
    return "".join(_c_encoder(value, 0))


def format_timestamp(moment: datetime) -> str:
    """UTC, always with microseconds, ``Z`` suffix; naive datetimes are taken as UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    # isoformat is strftime("%Y-%m-%dT%H:%M:%S.%f") at a fraction of the cost (appends).
    return moment.isoformat(timespec="microseconds") + "Z"


def parse_timestamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def check_json_value(value: Any, where: str = "details") -> None:
    """Refuse what has no single canonical JSON form: floats, huge ints, odd types."""
    if value is None or isinstance(value, str | bool):
        return
    if isinstance(value, int):
        if abs(value) > _MAX_SAFE_INT:
            raise ValueError(f"{where}: integer {value} is outside +/-(2**53-1)")
        return
    if isinstance(value, float):
        # Float formatting differs between languages; send decimals as strings.
        raise ValueError(f"{where}: floats are not allowed, send {value!r} as a string")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{where}: object keys must be strings, got {key!r}")
            check_json_value(item, f"{where}.{key}")
        return
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            check_json_value(item, f"{where}[{index}]")
        return
    raise ValueError(f"{where}: {type(value).__name__} is not a JSON value")


def checked_copy(value: Mapping[str, Any], where: str = "details") -> dict[str, Any]:
    """A deep copy of a JSON object, checked as :func:`check_json_value` checks it (lists
    and tuples copy to lists, as a JSON round trip would)."""
    copy: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise ValueError(f"{where}: object keys must be strings, got {key!r}")
        kind = type(item)
        scalar = item is None or kind is str or kind is bool
        if scalar or (kind is int and -_MAX_SAFE_INT <= item <= _MAX_SAFE_INT):
            copy[key] = item
        elif kind is dict or isinstance(item, Mapping):
            copy[key] = checked_copy(item, f"{where}.{key}")
        else:
            check_json_value(item, f"{where}.{key}")
            copy[key] = _copied(item)
    return copy


def _copied(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_copied(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _copied(item) for key, item in value.items()}
    return value


def encode(value: Mapping[str, Any]) -> bytes:
    """Sorted-key compact UTF-8 JSON of an already checked value."""
    return _text(value).encode("utf-8")


def encode_value(value: Any) -> str:
    """Canonical JSON text of any checked value (stored for details and roles)."""
    return _text(value)


def event_record(fields: Mapping[str, Any]) -> bytes:
    """Canonical bytes of one event; ``fields`` holds every name in EVENT_FIELDS but "v"."""
    record = {name: fields[name] for name in EVENT_FIELDS[:-1]}
    record["v"] = FORMAT_VERSION
    return encode(record)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def checkpoint_message(chain: str, seq: int, head_hash: str, created_at: str, key_id: str) -> bytes:
    """The bytes an Ed25519 checkpoint signature covers."""
    return encode(
        {
            "chain": chain,
            "created_at": created_at,
            "hash": head_hash,
            "key_id": key_id,
            "seq": seq,
            "type": "audit.checkpoint",
            "v": FORMAT_VERSION,
        }
    )


_PREV_KEY: Final = ',"prev_hash":""'
_SEQ_KEY: Final = ',"seq":0'


def record_parts(fields: Mapping[str, Any]) -> tuple[bytes, bytes, bytes]:
    """The canonical record of ``fields`` (every name in EVENT_FIELDS, values checked) split
    around its two position-dependent values: ``head + prev_hash + middle + str(seq) +
    tail`` equals :func:`event_record`'s bytes.

    The writer encodes everything else before it takes the chain's lock, and links the
    events under the lock with a few concatenations. The record is encoded once with
    ``prev_hash=""`` and ``seq=0`` and cut at those two keys; the last occurrence of each
    is the top-level one, because every key sorted after them holds a scalar, and a JSON
    string cannot contain an unescaped quote.
    """
    text = _text({**fields, "prev_hash": "", "seq": 0, "v": FORMAT_VERSION})
    prev_at = text.rfind(_PREV_KEY)
    seq_at = text.rfind(_SEQ_KEY + ",")
    if prev_at < 0 or seq_at < prev_at:
        raise AssertionError("canonical record layout changed")  # pragma: no cover
    head = text[:prev_at] + ',"prev_hash":"'
    middle = '"' + text[prev_at + len(_PREV_KEY) : seq_at] + ',"seq":'
    tail = text[seq_at + len(_SEQ_KEY) :]
    return head.encode("utf-8"), middle.encode("utf-8"), tail.encode("utf-8")


def decode_object(text: str) -> dict[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object")
    return value
