"""flask-smorest's ``Api``, writing the OpenAPI document when it is first asked for.

Making the spec and documenting every view (resolving each marshmallow schema, deep-copying
its fields) was most of what ``create_app`` cost, and most apps never serve the document: a
worker that is never asked for ``/openapi.json``, and the app each test builds. Blueprints
are registered with Flask at once, as before; the spec is made and their documentation
written, in registration order and exactly as flask-smorest would have written it, on the
first call to ``document``.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import flask
from flask_smorest import Api as SmorestApi

# ReDoc, vendored (policy_service/static/redoc/README.md): no CDN is needed to read the docs.
DOCS_ASSETS = Path(__file__).resolve().parent.parent / "static" / "redoc"
DOCS_FILES = {
    "redoc.standalone.js": "text/javascript",
    "docs.css": "text/css",
    "LICENSE": "text/plain",
    "THIRD-PARTY-NOTICES.txt": "text/plain",
}
# The page has no inline script or style; ReDoc itself injects its styles and runs its search
# in a blob: worker.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "worker-src 'self' blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _docs_page() -> flask.Response:
    response = flask.send_file(DOCS_ASSETS / "docs.html", mimetype="text/html")
    response.headers["Content-Security-Policy"] = DOCS_CSP
    return response


def _docs_asset(name: str) -> flask.Response:
    if name not in DOCS_FILES:
        flask.abort(404)
    response = flask.send_file(DOCS_ASSETS / name, mimetype=DOCS_FILES[name], max_age=3600)
    response.headers["Content-Security-Policy"] = DOCS_CSP
    return response


class Api(SmorestApi):  # type: ignore[misc]
    def __init__(self, app: flask.Flask | None = None, **kwargs: Any) -> None:
        self._undocumented: list[tuple[Any, str, Any]] = []
        self._documenting = threading.Lock()
        self._spec_options: dict[str, Any] | None = None
        super().__init__(app, **kwargs)

    def _init_spec(self, **options: Any) -> None:
        # The spec itself (its plugins, the default responses' schemas resolved) is a third
        # of what making an app costs: it too waits for the first ``document``.
        self._spec_options = options

    def register_blueprint(self, blp: Any, *, parameters: Any = None, **options: Any) -> None:
        name = options.get("name", blp.name)
        self._app.extensions["flask-smorest"]["blp_name_to_api"][name] = self
        self._app.register_blueprint(blp, **options)
        self._undocumented.append((blp, name, parameters))

    def document(self) -> dict[str, Any]:
        """The OpenAPI document, written on first use."""
        with self._documenting:
            if self.spec is None:
                super()._init_spec(**(self._spec_options or {}))
            while self._undocumented:
                blp, name, parameters = self._undocumented.pop(0)
                blp.register_views_in_doc(
                    self, self._app, self.spec, name=name, parameters=parameters
                )
                self.spec.tag({"name": name, "description": blp.description})
            document: dict[str, Any] = self.spec.to_dict()
            return document

    def _register_redoc_rule(self, blueprint: flask.Blueprint) -> None:
        """A human view of /openapi.json at /docs, public like the document (the api-docs
        blueprint), its script served from the package."""
        blueprint.add_url_rule("/docs", endpoint="docs", view_func=_docs_page)
        blueprint.add_url_rule("/docs/<name>", endpoint="docs_asset", view_func=_docs_asset)

    def _openapi_json(self) -> flask.Response:
        return flask.current_app.response_class(
            json.dumps(self.document(), indent=2, sort_keys=False), mimetype="application/json"
        )
