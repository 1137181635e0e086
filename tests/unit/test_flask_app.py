"""The service's Flask: URL builders compiled on first use that build what Werkzeug's eager
ones build."""

from __future__ import annotations

from typing import Any

from flask import Flask, url_for
from werkzeug.routing import Rule

from policy_service.api.flask_app import LazyBuildRule, ServiceFlask


def _app(rule_class: type[Rule]) -> Flask:
    app = Flask(__name__)
    app.url_rule_class = rule_class
    app.add_url_rule("/v1/accounts/<account_id>/contacts/<int:page>", "contacts", lambda: "")
    app.add_url_rule("/static-page", "static_page", lambda: "")
    return app


def _urls(app: Flask) -> list[str]:
    with app.test_request_context():
        return [
            url_for("contacts", account_id="a b/ç", page=3),
            url_for("contacts", account_id="acme", page=1, q="x&y", state=["a", "b"]),
            url_for("static_page", _external=True),
            url_for("static_page", next="/console"),
        ]


def test_lazy_rules_build_the_same_urls_as_werkzeugs_own() -> None:
    assert _urls(_app(LazyBuildRule)) == _urls(_app(Rule))


def test_the_service_app_uses_lazy_rules(sqlite_service: Any) -> None:
    app = sqlite_service.app
    assert isinstance(app, ServiceFlask)
    assert all(isinstance(rule, LazyBuildRule) for rule in app.url_map.iter_rules())


def test_werkzeug_still_builds_through_the_private_hook_the_lazy_rule_overrides() -> None:
    """``LazyBuildRule`` overrides ``Rule._compile_builder``; should an upgrade stop calling
    it, rules would compile eagerly again, silently. This says so loudly instead."""
    app = _app(LazyBuildRule)
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == "contacts")
    assert rule._build.__func__.__qualname__.startswith("LazyBuildRule.")
