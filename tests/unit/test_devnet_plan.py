"""Devnet borrower positions are deterministic from the seed and varied."""

from __future__ import annotations

from keeper.devnet.borrowers import plan_positions
from keeper.devnet.market_spec import DEFAULT_RESERVES


def test_same_seed_same_positions_other_seed_other_positions():
    """The same seed gives the same positions; another seed gives others."""
    a = plan_positions(50, 7, DEFAULT_RESERVES)
    assert a == plan_positions(50, 7, DEFAULT_RESERVES)
    assert a != plan_positions(50, 8, DEFAULT_RESERVES)


def test_positions_are_varied_and_never_borrow_their_collateral():
    """Every profile appears; multi-asset positions exist; no asset is both supplied and
    borrowed by one account (so the liquidation pairs are unambiguous).
    """
    positions = plan_positions(300, 3, DEFAULT_RESERVES)
    assert {p.profile for p in positions} == {"edge", "moderate", "safe", "supplier"}
    assert any(len(p.supplies) == 2 for p in positions)
    assert any(len(p.borrows) == 2 for p in positions)
    for p in positions:
        assert not {s for s, _ in p.supplies} & {s for s, _ in p.borrows}
        assert all(amount > 0 for _, amount in p.supplies)
