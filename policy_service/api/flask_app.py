"""The service's Flask: URL builders compiled on first use, and no routing redirects.

Werkzeug compiles two Python functions per rule (one to build URLs with
only the rule's arguments, one with extra query arguments) the moment a rule is added, which
was most of the cost of making an app with ~100 routes. A worker builds URLs for a handful
of them (the console's ``url_for``) and the API builds none, so the compile waits until a URL
is built. Matching requests does not use the builders.

Werkzeug also answers some paths with a redirect of its own making (``//`` merged into ``/``,
a missing trailing slash added): an HTML 308 that no error handler sees, where every other
error is problem+json. The service's map makes neither: such a path simply does not match.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from werkzeug.routing import Map, Rule


class LazyBuildRule(Rule):
    def _compile_builder(self, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
        compile_now = super()._compile_builder
        compiled: list[Callable[..., tuple[str, str]]] = []

        def build(rule: Rule, *args: Any, **values: Any) -> tuple[str, str]:
            if not compiled:
                compiled.append(compile_now(append_unknown))
            return compiled[0](rule, *args, **values)

        return build


class NoRedirectMap(Map):
    """A URL map that neither merges slashes nor adds a trailing one (see the docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("merge_slashes", False)
        kwargs.setdefault("strict_slashes", False)
        super().__init__(*args, **kwargs)


class ServiceFlask(Flask):
    """Flask with lazy URL builders from its first rule (the static route it adds itself),
    on a map without routing redirects."""

    url_rule_class = LazyBuildRule
    url_map_class = NoRedirectMap
