from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import Service
from tests.integration.webhook_receiver import Receiver, running_receiver


@dataclass
class Tenants:
    """Two accounts, a calling service for each, people in them, and a platform admin."""

    service: Service
    pep_acme: str
    pep_globex: str
    ada: str  # admin of acme
    uma: str  # user of acme
    root: str  # platform admin

    def post(self, path: str, body: Any, token: str | None = None, **kwargs: Any) -> Any:
        return self.service.request("POST", path, token or self.pep_acme, json=body, **kwargs)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on 127.0.0.1 that checks each delivery's signature."""
    with running_receiver() as running:
        yield running


@pytest.fixture
def tenants(service: Service) -> Tenants:
    service.account("acme", purge_enabled=True)
    service.account("globex", purge_enabled=False)
    return Tenants(
        service=service,
        pep_acme=service.caller("pep-acme", roles={"acme": ["service"]}, kind="service"),
        pep_globex=service.caller("pep-globex", roles={"globex": ["service"]}, kind="service"),
        ada=service.caller("ada", roles={"acme": ["admin"]}),
        uma=service.caller("uma", roles={"acme": ["user"]}),
        root=service.caller("root", platform_admin=True),
    )


def with_officers(tenants: Tenants) -> Tenants:
    """``tenants`` with a compliance officer in each account (cora in acme, gail in globex)
    and an audited change to read: zed made a user of acme by its admin."""
    service = tenants.service
    service.caller("cora", roles={"acme": ["compliance_officer"]})
    service.caller("gail", roles={"globex": ["compliance_officer"]})
    service.request("PUT", "/v1/accounts/acme/members/zed", tenants.ada, json={"roles": ["user"]})
    return tenants


def evaluation(
    subject: str = "ada",
    action: str = "delete",
    account: str = "acme",
    **properties: Any,
) -> dict[str, Any]:
    return {
        "subject": {"type": "user", "id": subject},
        "action": {"name": action},
        "resource": {
            "type": "contact",
            "id": "c-1",
            "properties": {"account_id": account, **properties},
        },
    }


def two_workers(
    make_service: Any, database_url: str, sync_interval: float, **overrides: Any
) -> tuple[Service, Service]:
    """Two apps on one database, standing for two gunicorn workers: acme with a calling
    service (pep), a user (uma) and a platform admin (root), whose tokens both accept."""
    first = make_service(database_url, sync_interval=sync_interval, **overrides)
    first.account("acme")
    first.caller("pep", roles={"acme": ["service"]}, kind="service")
    first.caller("uma", roles={"acme": ["user"]})
    first.caller("root", platform_admin=True)
    second = make_service(database_url, sync_interval=sync_interval, **overrides)
    second.tokens = first.tokens
    return first, second
