"""Who holds which role where: an index that is also the enforcer's role manager.

pycasbin's default domain role manager keeps role links in lists and builds one role
manager per domain, and it caches every unknown user or domain it is asked about for good.
Role assignments are the service's own data (a table, plus any the pack declares), so the
enforcer gets this index instead: ``g(user, role, account)`` is one dictionary lookup, a
membership change is an O(1) update, and start-up is one query.

Roles are flat: a role does not inherit another. A rule names each role it grants.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from casbin.rbac import RoleManager

Key = tuple[str, str]  # (domain, user)


class RoleIndex(RoleManager):  # type: ignore[misc]
    def __init__(self) -> None:
        self._stored: dict[Key, frozenset[str]] = {}
        self._static: dict[Key, frozenset[str]] = {}
        self._lock = threading.Lock()

    # -- loading and changes ------------------------------------------------------------

    def load(
        self, stored: Iterable[tuple[str, str, str]], static: Iterable[tuple[str, str, str]]
    ) -> None:
        """Replace everything with (user, role, domain) rows from the database and the pack."""
        stored_map = _group(stored)
        static_map = _group(static)
        with self._lock:
            self._stored = stored_map
            self._static = static_map

    def set_roles(self, domain: str, user: str, roles: Iterable[str]) -> None:
        key = (domain, user)
        new = frozenset(roles)
        with self._lock:
            if new:
                self._stored[key] = new
            else:
                self._stored.pop(key, None)

    def replace_static(self, static: Iterable[tuple[str, str, str]]) -> None:
        static_map = _group(static)
        with self._lock:
            self._static = static_map

    # -- queries --------------------------------------------------------------------------

    def roles_of(self, user: str, domain: str) -> frozenset[str]:
        key = (domain, user)
        stored = self._stored.get(key)
        static = self._static.get(key)
        if static is None:
            return stored or frozenset()
        return static if stored is None else stored | static

    def assignment_count(self) -> int:
        stored = sum(len(v) for v in self._stored.values())
        return stored + sum(len(v) for v in self._static.values())

    def __bool__(self) -> bool:
        # pycasbin's g() tests ``if not rm`` on every call; an empty index is still a manager.
        return True

    # -- casbin RoleManager interface ----------------------------------------------------

    def has_link(self, name1: str, name2: str, *domain: str) -> bool:
        key = (domain[0] if domain else "", name1)
        roles = self._stored.get(key)
        if roles is not None and name2 in roles:
            return True
        static = self._static.get(key)
        return static is not None and name2 in static

    def get_roles(self, name: str, *domain: str) -> list[str]:
        return sorted(self.roles_of(name, domain[0] if domain else ""))

    def get_users(self, name: str, *domain: str) -> list[str]:
        wanted = domain[0] if domain else ""
        users = {
            user
            for source in (self._stored, self._static)
            for (dom, user), roles in source.items()
            if dom == wanted and name in roles
        }
        return sorted(users)

    def clear(self) -> None:
        # Casbin calls this before rebuilding links from its own ``g`` rows. This index is
        # loaded by the service, not from Casbin's rows, so there is nothing to clear here.
        return None

    def add_link(self, name1: str, name2: str, *domain: str) -> None:
        key = (domain[0] if domain else "", name1)
        with self._lock:
            self._static[key] = self._static.get(key, frozenset()) | {name2}

    def delete_link(self, name1: str, name2: str, *domain: str) -> None:
        key = (domain[0] if domain else "", name1)
        with self._lock:
            remaining = self._static.get(key, frozenset()) - {name2}
            if remaining:
                self._static[key] = remaining
            else:
                self._static.pop(key, None)

    def print_roles(self) -> None:
        return None


def _group(rows: Iterable[tuple[str, str, str]]) -> dict[Key, frozenset[str]]:
    grouped: dict[Key, set[str]] = {}
    for user, role, domain in rows:
        grouped.setdefault((domain, user), set()).add(role)
    return {key: frozenset(roles) for key, roles in grouped.items()}
