"""Every registered backend runs its role's contract suite, or says why it cannot offline."""

from __future__ import annotations

import pytest

from mlops_kit.registries import REGISTRIES
from tests.contracts.conftest import OFFLINE, ONLINE_ONLY


@pytest.mark.parametrize("role", sorted(REGISTRIES))
def test_every_registered_scheme_has_a_contract_run_or_a_reason(role: str) -> None:
    declared = OFFLINE.get(role, set()) | set(ONLINE_ONLY.get(role, {}))
    assert sorted(declared) == sorted(REGISTRIES[role].registered)
