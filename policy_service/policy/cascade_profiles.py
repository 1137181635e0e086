"""Loading cascade profiles: one TOML file per profile in the pack's ``cascade_profiles/``.

Validated with marshmallow when the pack loads. Every profile must name every related kind
for ``on_delete`` and for ``on_purge``: there are no defaults, so adding a kind to the
service makes every profile that does not say what happens to it fail at start.
"""

from __future__ import annotations

import functools
import hashlib
import tomllib
from pathlib import Path
from types import MappingProxyType
from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from policy_service.domain.cascade import (
    ACTIONS,
    GUARDS,
    RELATED_KINDS,
    CascadeProfile,
    allowed_actions,
)
from policy_service.domain.errors import PolicyPackError
from policy_service.policy.toml_errors import toml_error_line
from policy_service.strict_fields import StrictBoolean

DIRECTORY = "cascade_profiles"


# One field per kind, all required: a missing kind is an error naming it.
_KindFields = ma.Schema.from_dict(
    {kind: fields.String(required=True, validate=validate.OneOf(ACTIONS)) for kind in RELATED_KINDS}
)


class _ActionsSchema(_KindFields):  # type: ignore[misc, valid-type]
    class Meta:
        unknown = ma.RAISE

    @ma.validates_schema
    def _actions_fit_their_kinds(self, data: dict[str, str], **_: Any) -> None:
        errors = {
            kind: [f"{action!r} does not apply to {kind}; use one of {list(allowed_actions(kind))}"]
            for kind, action in data.items()
            if action not in allowed_actions(kind)
        }
        if errors:
            raise ma.ValidationError(errors)


class CascadeProfileSchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    name = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9][a-z0-9-]{0,63}$"))
    description = fields.String(required=True, validate=validate.Length(min=1, max=500))
    trash = StrictBoolean(required=True)
    retention_days = fields.Integer(
        load_default=None, strict=True, validate=validate.Range(min=0, max=3650)
    )
    block_delete_when = fields.List(
        fields.String(validate=validate.OneOf(tuple(GUARDS))), load_default=list
    )
    on_delete = fields.Nested(_ActionsSchema, required=True)
    on_purge = fields.Nested(_ActionsSchema, required=True)


def _line_of(text: str, needles: list[str]) -> int | None:
    """The line of the most specific key an error names (``on_purge`` then ``notes``)."""
    lines = text.splitlines()
    start = 0
    found = None
    for needle in needles:
        for number in range(start, len(lines)):
            stripped = lines[number].strip()
            if stripped.startswith((f"{needle} ", f"{needle}=", f"[{needle}]")):
                found, start = number + 1, number + 1
                break
    return found


def _first_error(messages: Any, path: list[str]) -> tuple[list[str], str]:
    if isinstance(messages, dict):
        key = sorted(messages)[0]
        return _first_error(messages[key], [*path, str(key)])
    if isinstance(messages, list) and messages:
        return (
            _first_error(messages[0], path)
            if not isinstance(messages[0], str)
            else (
                path,
                messages[0],
            )
        )
    return path, str(messages)


def load_profile(path: Path) -> CascadeProfile:
    return _parse_profile(str(path), path.stem, path.read_text(encoding="utf-8"))


# A profile is immutable and made only from its file's name and text, so a reload (every
# worker, every policy change, every app a test builds) parses only the files that changed.
@functools.lru_cache(maxsize=256)
def _parse_profile(path: str, stem: str, text: str) -> CascadeProfile:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyPackError(path, toml_error_line(exc), f"invalid TOML: {exc}") from None
    try:
        data = CascadeProfileSchema().load(raw)
    except ma.ValidationError as error:
        where, message = _first_error(error.messages, [])
        section = [w for w in where if w != "_schema"]
        line = _line_of(text, section) if section else None
        raise PolicyPackError(path, line, f"{'.'.join(section)}: {message}") from None
    if data["name"] != stem:
        raise PolicyPackError(
            path, _line_of(text, ["name"]), f"name {data['name']!r} must match the file name"
        )
    return CascadeProfile(
        name=data["name"],
        description=data["description"],
        trash=data["trash"],
        retention_days=data["retention_days"],
        block_delete_when=tuple(data["block_delete_when"]),
        on_delete=MappingProxyType(dict(data["on_delete"])),
        on_purge=MappingProxyType(dict(data["on_purge"])),
        version="sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16],
    )


def load_profiles(pack_directory: Path) -> dict[str, CascadeProfile]:
    directory = pack_directory / DIRECTORY
    if not directory.is_dir():
        return {}
    return {path.stem: load_profile(path) for path in sorted(directory.glob("*.toml"))}
