"""Policy packs: a directory with ``pack.toml``, the Casbin model, rules, and policy tests.

Everything is validated when the pack loads. Any problem raises ``PolicyPackError`` naming
the file and the line, and the service refuses to start (or a reload is refused and the
running policy kept).

The rules file is read by this module, not by Casbin's CSV adapter: that gives line numbers,
validates every field, and keeps Casbin's quirks with commas and parentheses out of the way.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import casbin

from policy_service.domain.cascade import CascadeProfile
from policy_service.domain.decisions import RuleRef
from policy_service.domain.errors import PolicyPackError
from policy_service.domain.facts import FACT_NAMES
from policy_service.domain.identifiers import (
    ACTION_PATTERN,
    ANY_ACCOUNT,
    PLATFORM_DOMAIN,
    ROLE_PATTERN,
    is_valid_account_id,
    is_valid_id,
)
from policy_service.policy.cascade_profiles import load_profiles
from policy_service.policy.conditions import UnknownCondition, parse_condition_names
from policy_service.policy.toml_errors import toml_error_line

MANIFEST = "pack.toml"
REQUEST_TOKENS = ["r_sub", "r_dom", "r_obj", "r_act", "r_facts"]
POLICY_TOKENS = ["p_sub", "p_dom", "p_obj", "p_act", "p_cond", "p_eft"]
OBJECT_PATTERN = re.compile(r"^(\*|[a-z][a-z0-9_]{0,63})$")
MANIFEST_KEYS = {
    "name",
    "description",
    "model",
    "rules",
    "assignments",
    "tests",
    "default_account",
    "property_aliases",
    "subjects",
}


@dataclass(frozen=True, slots=True)
class PolicyRule:
    role: str
    domain: str
    obj: str
    action: str
    conditions: str
    effect: str
    ref: RuleRef

    def as_casbin(self) -> list[str]:
        return [self.role, self.domain, self.obj, self.action, self.conditions, self.effect]


@dataclass(frozen=True, slots=True)
class StaticAssignment:
    user: str
    role: str
    account: str


@dataclass(frozen=True)
class PolicyPack:
    name: str
    directory: Path
    model_path: Path
    model_text: str
    rules: tuple[PolicyRule, ...]
    assignments: tuple[StaticAssignment, ...]
    tests_dir: Path | None
    default_account: str | None
    property_aliases: dict[str, str]
    subject_attributes: dict[str, dict[str, str]]
    version: str
    roles: frozenset[str] = field(default_factory=frozenset)
    cascade_profiles: dict[str, CascadeProfile] = field(default_factory=dict)

    def new_model(self) -> Any:
        return casbin.Enforcer.new_model(text=self.model_text)


def _line_of(text: str, needle: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    return None


def _read(path: Path, referenced_from: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyPackError(str(referenced_from), None, f"{path} does not exist") from None
    except UnicodeDecodeError as exc:
        raise PolicyPackError(str(path), None, f"not UTF-8 text: {exc}") from None


def _load_manifest(directory: Path) -> tuple[Path, str, dict[str, Any]]:
    manifest_path = directory / MANIFEST
    if not directory.is_dir():
        raise PolicyPackError(str(directory), None, "policy pack directory does not exist")
    text = _read(manifest_path, directory)
    try:
        manifest = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyPackError(
            str(manifest_path), toml_error_line(exc), f"invalid TOML: {exc}"
        ) from None
    for key in manifest:
        if key not in MANIFEST_KEYS:
            raise PolicyPackError(str(manifest_path), _line_of(text, key), f"unknown key {key!r}")
    for key in ("name", "model", "rules"):
        if not isinstance(manifest.get(key), str) or not manifest[key]:
            raise PolicyPackError(str(manifest_path), None, f"{key!r} must be a non-empty string")
    return manifest_path, text, manifest


def _check_model(path: Path, text: str) -> None:
    try:
        model = casbin.Enforcer.new_model(text=text)
    except Exception as exc:  # Casbin raises bare exceptions for a malformed model
        raise PolicyPackError(str(path), None, f"invalid Casbin model: {exc}") from None
    sections = model.keys()
    for section in ("r", "p", "e", "m", "g"):
        if section not in sections:
            raise PolicyPackError(str(path), None, f"the model has no [{_SECTION_NAMES[section]}]")
    if model["r"]["r"].tokens != REQUEST_TOKENS:
        raise PolicyPackError(
            str(path),
            _line_of(text, "r ="),
            "the request must be 'r = sub, dom, obj, act, facts' (the service fills these)",
        )
    if model["p"]["p"].tokens != POLICY_TOKENS:
        raise PolicyPackError(
            str(path),
            _line_of(text, "p ="),
            "the policy must be 'p = sub, dom, obj, act, cond, eft' (the rules file fills these)",
        )
    if model["g"]["g"].value.count("_") != 3:
        raise PolicyPackError(str(path), _line_of(text, "g ="), "roles must be 'g = _, _, _'")


_SECTION_NAMES = {
    "r": "request_definition",
    "p": "policy_definition",
    "e": "policy_effect",
    "m": "matchers",
    "g": "role_definition",
}


def _fields(line: str) -> list[str]:
    return [part.strip() for part in line.split(",")]


def _content_lines(text: str) -> list[tuple[int, str]]:
    return [
        (number, stripped)
        for number, raw in enumerate(text.splitlines(), start=1)
        if (stripped := raw.strip()) and not stripped.startswith("#")
    ]


def _parse_rules(path: Path, text: str) -> tuple[PolicyRule, ...]:
    rules: list[PolicyRule] = []
    seen: dict[tuple[str, ...], int] = {}
    for number, line in _content_lines(text):

        def fail(message: str, line_number: int = number) -> PolicyRuleError:
            return PolicyRuleError(str(path), line_number, message)

        parts = _fields(line)
        if parts[0] != "p":
            raise fail(f"expected a rule starting with 'p', got {parts[0]!r}")
        if len(parts) != 7:
            raise fail(
                f"a rule has 6 fields after 'p' (role, domain, object, action, conditions, "
                f"effect); found {len(parts) - 1}"
            )
        _, role, domain, obj, action, conditions, effect = parts
        if role != "*" and not ROLE_PATTERN.fullmatch(role):
            raise fail(f"invalid role {role!r}")
        if domain not in (ANY_ACCOUNT, PLATFORM_DOMAIN) and not is_valid_account_id(domain):
            raise fail(f"invalid domain {domain!r}: use '*', 'platform' or an account id")
        if not OBJECT_PATTERN.fullmatch(obj):
            raise fail(f"invalid object {obj!r}")
        if not ACTION_PATTERN.fullmatch(action):
            raise fail(f"invalid action {action!r}")
        if effect not in ("allow", "deny"):
            raise fail(f"effect must be 'allow' or 'deny', got {effect!r}")
        try:
            parse_condition_names(conditions)
        except UnknownCondition as exc:
            raise fail(str(exc)) from None
        normalised_conditions = " ".join(conditions.split())
        key = (role, domain, obj, action, normalised_conditions, effect)
        if key in seen:
            raise fail(f"duplicate of the rule on line {seen[key]}")
        seen[key] = number
        ref = RuleRef(text=line, file=path.name, line=number, effect=effect)
        rules.append(PolicyRule(role, domain, obj, action, normalised_conditions, effect, ref))
    if not rules:
        raise PolicyRuleError(str(path), None, "the rules file holds no rules")
    return tuple(rules)


class PolicyRuleError(PolicyPackError):
    pass


def _parse_assignments(path: Path, text: str) -> tuple[StaticAssignment, ...]:
    assignments = []
    for number, line in _content_lines(text):
        parts = _fields(line)
        if parts[0] != "g" or len(parts) != 4:
            raise PolicyPackError(str(path), number, "expected 'g, user, role, account'")
        _, user, role, account = parts
        if not is_valid_id(user):
            raise PolicyPackError(str(path), number, f"invalid user id {user!r}")
        if not ROLE_PATTERN.fullmatch(role):
            raise PolicyPackError(str(path), number, f"invalid role {role!r}")
        if account != PLATFORM_DOMAIN and not is_valid_account_id(account):
            raise PolicyPackError(str(path), number, f"invalid account {account!r}")
        assignments.append(StaticAssignment(user, role, account))
    return tuple(assignments)


def _parse_subjects(manifest_path: Path, text: str, raw: Any) -> dict[str, dict[str, str]]:
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise PolicyPackError(
            str(manifest_path), _line_of(text, "subjects"), "[[subjects]] must be a table array"
        )
    subjects: dict[str, dict[str, str]] = {}
    for entry in raw:
        subject_id = entry.get("id") if isinstance(entry, dict) else None
        line = _line_of(text, str(subject_id)) if subject_id else _line_of(text, "subjects")
        if not is_valid_id(subject_id):
            raise PolicyPackError(str(manifest_path), line, "each subject needs a valid 'id'")
        assert isinstance(entry, dict)
        attributes = {k: v for k, v in entry.items() if k != "id"}
        if set(attributes) - {"email"} or not all(isinstance(v, str) for v in attributes.values()):
            raise PolicyPackError(
                str(manifest_path), line, "subject attributes: only 'email' (a string) is known"
            )
        subjects[str(subject_id)] = attributes
    return subjects


def _parse_aliases(manifest_path: Path, text: str, raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    line = _line_of(text, "property_aliases")
    if not isinstance(raw, dict):
        raise PolicyPackError(str(manifest_path), line, "[property_aliases] must be a table")
    for alias, fact in raw.items():
        if fact not in FACT_NAMES:
            raise PolicyPackError(
                str(manifest_path),
                _line_of(text, alias) or line,
                f"alias {alias!r} names unknown fact {fact!r} (known: {', '.join(FACT_NAMES)})",
            )
    return {str(alias): str(fact) for alias, fact in raw.items()}


def load_pack(directory: Path) -> PolicyPack:
    directory = directory.resolve()
    manifest_path, manifest_text, manifest = _load_manifest(directory)

    model_path = (directory / manifest["model"]).resolve()
    model_text = _read(model_path, manifest_path)
    _check_model(model_path, model_text)

    rules_path = directory / manifest["rules"]
    rules_text = _read(rules_path, manifest_path)
    rules = _parse_rules(rules_path, rules_text)

    assignments: tuple[StaticAssignment, ...] = ()
    assignments_text = ""
    if manifest.get("assignments"):
        assignments_path = directory / manifest["assignments"]
        assignments_text = _read(assignments_path, manifest_path)
        assignments = _parse_assignments(assignments_path, assignments_text)

    default_account = manifest.get("default_account")
    if default_account is not None and not is_valid_account_id(default_account):
        raise PolicyPackError(
            str(manifest_path),
            _line_of(manifest_text, "default_account"),
            f"invalid default_account {default_account!r}",
        )

    tests_dir = directory / manifest["tests"] if manifest.get("tests") else None
    if tests_dir is not None and not tests_dir.is_dir():
        raise PolicyPackError(
            str(manifest_path), _line_of(manifest_text, "tests"), f"{tests_dir} is not a directory"
        )

    profiles = load_profiles(directory)
    digest = hashlib.sha256()
    for part in (manifest_text, model_text, rules_text, assignments_text):
        digest.update(part.encode())
        digest.update(b"\x00")
    for profile in profiles.values():
        digest.update(profile.version.encode())
    roles = frozenset(r.role for r in rules if r.role != "*" and r.domain != PLATFORM_DOMAIN)
    return PolicyPack(
        name=manifest["name"],
        directory=directory,
        model_path=model_path,
        model_text=model_text,
        rules=rules,
        assignments=assignments,
        tests_dir=tests_dir,
        default_account=default_account,
        property_aliases=_parse_aliases(
            manifest_path, manifest_text, manifest.get("property_aliases")
        ),
        subject_attributes=_parse_subjects(manifest_path, manifest_text, manifest.get("subjects")),
        version="sha256:" + digest.hexdigest()[:16],
        roles=roles | frozenset(a.role for a in assignments if a.account != PLATFORM_DOMAIN),
        cascade_profiles=profiles,
    )
