"""Every registered backend runs its role's contract suite, or says why it cannot offline."""

from __future__ import annotations

import pytest

from tests.contracts.conftest import OFFLINE, ONLINE_ONLY, ROLES


@pytest.mark.parametrize("role", sorted(ROLES))
def test_every_registered_scheme_has_a_contract_run_or_a_reason(role: str) -> None:
    declared = OFFLINE.get(role, set()) | set(ONLINE_ONLY.get(role, {}))
    assert sorted(declared) == sorted(ROLES[role].registered)
