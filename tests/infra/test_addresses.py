"""Address ranges are compared as networks: any public range counts as open, not only 0.0.0.0/0."""

from __future__ import annotations

import pytest

from infra.addresses import is_internal, is_public


@pytest.mark.parametrize(
    "cidr", ["10.0.0.0/8", "10.200.0.0/24", "172.16.0.32/28", "192.168.1.0/24", "100.64.0.0/10"]
)
def test_internal_ranges(cidr: str) -> None:
    assert is_internal(cidr)
    assert not is_public(cidr)


@pytest.mark.parametrize(
    "cidr",
    [
        "0.0.0.0/0",
        "0.0.0.0/1",  # with 128.0.0.0/1: the whole internet in two halves
        "128.0.0.0/1",
        "::/0",
        "8.0.0.0/8",
        "9.0.0.0/7",  # covers 10.0.0.0/8 and public space
        "172.0.0.0/8",
        "35.235.240.0/20",
        "not a range",
    ],
)
def test_public_or_invalid_ranges(cidr: str) -> None:
    assert is_public(cidr)
