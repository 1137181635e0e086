"""Bugs the contract tests found below the HTTP edge (in services/), each reproduced on its own.

Open ones are strict expected failures: when a fix lands, the test passes, pytest reports it,
and the mark (and the entry in test_fuzz.KNOWN_SERVICE_BUGS) should go. Fixed ones stay as
regression tests.
"""

from __future__ import annotations

import pytest

from tests.contract.conftest import ACCOUNT, World


@pytest.mark.parametrize("step", ["verify-identity", "approve", "deny", "extend", "execute"])
def test_a_refused_dsr_step_is_refused_not_a_503(world: World, step: str) -> None:
    """services/dsr.py _step used to authorize inside the unit of work holding the request's
    row (BEGIN IMMEDIATE on SQLite); recording the refusal opened a second write transaction
    that waited on the first until the busy timeout, and the answer was a 503."""
    bodies = {"verify-identity": {"method": "email"}, "deny": {}, "extend": {"reason": "r"}}
    dsr_id = world.existing["dsr_id"][0]
    response = world.crm.call("POST", f"/v1/dsr/{dsr_id}/{step}", world.crm.user, bodies.get(step))
    assert response.status_code in (403, 404), response.get_json()


def test_releasing_the_holds_of_an_over_long_contact_id_is_not_a_500(world: World) -> None:
    """Used to be a 500: the refusal's audit event got a target_id over the audit log's 128
    characters. Path values that long are now refused at the edge, before anything runs."""
    path = f"/v1/accounts/{ACCOUNT}/contacts/{'c' * 130}/legal-holds"
    response = world.crm.call("DELETE", path, world.crm.user)
    assert response.status_code == 400, response.get_json()
    for long_account in (f"/v1/accounts/{'a' * 130}/contacts", f"/v1/accounts/{'a' * 130}"):
        assert world.crm.call("GET", long_account, world.crm.user).status_code == 400
