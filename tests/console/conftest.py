"""Console fixtures: an account with a trashed contact, and a way to sign in."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.conftest import Service

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client: FlaskClient, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.get_data(as_text=True)[:300]
    found = CSRF.search(page.get_data(as_text=True))
    assert found is not None, f"no CSRF token on {path}"
    return found.group(1)


def sign_in(client: FlaskClient, token: str) -> Any:
    form = {"token": token, "csrf_token": csrf_token(client, "/console/sign-in")}
    return client.post("/console/sign-in", data=form)


@dataclass
class Console:
    service: Service
    admin: str
    user: str
    officer: str
    outsider: str

    def client(self) -> FlaskClient:
        return self.service.app.test_client()

    def signed_in(self, token: str) -> FlaskClient:
        client = self.client()
        response = sign_in(client, token)
        assert response.status_code == 302, response.get_data(as_text=True)[:300]
        return client


@pytest.fixture
def console(sqlite_service: Service) -> Console:
    service = sqlite_service
    service.account("a", name="Alpha", purge_enabled=True)
    service.account("b", name="Bravo Corp")
    admin = service.caller("ann", roles={"a": ["admin"]})
    user = service.caller("ulf", roles={"a": ["user"]})
    officer = service.caller("olga", roles={"a": ["compliance_officer"]})
    outsider = service.caller("bea", roles={"b": ["admin"]})
    for cid, name in (("ada", "Ada Lovelace"), ("bob", "Bob Byte")):
        created = service.request(
            "POST", "/v1/accounts/a/contacts", admin, {"id": cid, "name": name}
        )
        assert created.status_code == 201, created.get_data(as_text=True)
        deleted = service.request(
            "POST", f"/v1/accounts/a/contacts/{cid}/delete", admin, {"reason_code": "duplicate"}
        )
        assert deleted.status_code == 200, deleted.get_data(as_text=True)
    secret = service.request(
        "POST", "/v1/accounts/b/contacts", outsider, {"id": "b-1", "name": "Bea Secret"}
    )
    assert secret.status_code == 201
    return Console(service, admin, user, officer, outsider)
