"""An account under a given cascade profile, with a contact that has one record of every
related kind, and the people who act on it."""

from dataclasses import dataclass
from typing import Any

from policy_service.domain.cascade import RELATED_KINDS
from tests.conftest import Service

RECORD_DATA: dict[str, dict[str, Any]] = {
    "commission_records": {"amount": "120.00", "currency": "EUR", "date": "2026-10-01",
                           "product": "plan-a", "agent_note": "met Ada at the fair"},
    "opportunities": {"value": "5000", "currency": "EUR", "stage": "won", "closed_at": "2026-09",
                      "contact_name": "Ada Lovelace"},
    "activity_history": {"type": "call", "at": "2026-10-02", "summary": "called Ada"},
    "tags": {"name": "vip"},
}  # fmt: skip


@dataclass
class Crm:
    service: Service
    account: str
    admin: str
    user: str
    officer: str
    root: str

    def call(
        self, method: str, path: str, token: str | None = None, body: Any = None, **kw: Any
    ) -> Any:
        return self.service.request(method, path, token or self.admin, json=body, **kw)

    def contact(self, contact_id: str, with_records: bool = True, **fields: Any) -> None:
        body = {"id": contact_id, "name": "Ada Lovelace", "email": "ada@example.com",
                "phone": "+44 20 7946 0000", **fields}  # fmt: skip
        response = self.call("POST", f"/v1/accounts/{self.account}/contacts", self.user, body)
        assert response.status_code == 201, response.get_json()
        if with_records:
            for kind in RELATED_KINDS:
                data = RECORD_DATA.get(kind, {"text": f"{kind} about Ada"})
                added = self.call(
                    "POST",
                    f"{self.path(contact_id)}/records",
                    self.user,
                    {"kind": kind, "data": data},
                )
                assert added.status_code == 201, added.get_json()

    def path(self, contact_id: str) -> str:
        return f"/v1/accounts/{self.account}/contacts/{contact_id}"

    def delete(self, contact_id: str, token: str | None = None, reason: str = "duplicate") -> Any:
        body = {"reason_code": reason, "confirm": "DELETE"}  # needed where there is no trash
        return self.call("POST", f"{self.path(contact_id)}/delete", token, body)

    def restore(self, contact_id: str, token: str | None = None) -> Any:
        return self.call("POST", f"{self.path(contact_id)}/restore", token)

    def purge(self, contact_id: str, token: str | None = None, confirm: str = "PURGE") -> Any:
        return self.call("POST", f"{self.path(contact_id)}/purge", token, {"confirm": confirm})

    def records(self, contact_id: str) -> dict[str, list[dict[str, Any]]]:
        found = self.call("GET", f"{self.path(contact_id)}/records").get_json()["records"]
        by_kind: dict[str, list[dict[str, Any]]] = {}
        for record in found:
            by_kind.setdefault(record["kind"], []).append(record)
        return by_kind

    def states(self, contact_id: str) -> dict[str, str]:
        return {kind: records[0]["state"] for kind, records in self.records(contact_id).items()}


def refusal(response: Any) -> tuple[int, str]:
    """A refused answer's status and reason code, to compare with what a test expects."""
    return response.status_code, response.get_json()["reason"]["code"]


def make_crm(service: Service, profile: str, **account: Any) -> Crm:
    service.account("acme", cascade_profile=profile, **account)
    return Crm(
        service=service,
        account="acme",
        admin=service.caller("ada", roles={"acme": ["admin"]}),
        user=service.caller("uma", roles={"acme": ["user"]}),
        officer=service.caller("cora", roles={"acme": ["compliance_officer"]}),
        root=service.caller("root", platform_admin=True),
    )
