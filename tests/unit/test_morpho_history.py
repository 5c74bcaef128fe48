"""What recent blocks changed in the Morpho state: the record a reorg rollback re-reads."""

from __future__ import annotations

from keeper.protocols.morpho_blue import events as ev
from keeper.protocols.morpho_blue.history import RecentChanges
from keeper.protocols.morpho_blue.types import MarketParams

A = "0x" + "aa" * 20
PARAMS = MarketParams(A, A, A, A, 10**18)
M = PARAMS.id


def _at(block: int) -> ev.Where:
    return ev.Where(block, 0, "0x" + "00" * 32)


def test_the_blocks_above_an_ancestor_merge_into_what_to_read_again() -> None:
    """Created markets, touched markets and positions, and a fee-recipient change of the blocks
    above the ancestor are merged; blocks at or below it are not; dropping them forgets them.
    """
    recent = RecentChanges()
    recent.reset(10)
    recent.record(ev.CreateMarket(_at(11), M, PARAMS), [])
    recent.record(ev.SetFeeRecipient(_at(12), A), [])
    recent.record(ev.SetFee(_at(13), M, 10**17), [(M, A)])
    undo = recent.after(11)
    assert undo.created == set()
    assert undo.fee_recipient
    assert undo.markets == {M}
    assert undo.pairs == {(M, A)}
    assert recent.after(10).created == {M}
    recent.drop_after(11)
    assert sorted(recent.blocks) == [11]


def test_a_rollback_is_exact_only_as_far_back_as_blocks_are_known() -> None:
    """Changes are known from the block after the start, and for at most ``depth`` blocks
    below the head: an ancestor further back is not covered (the market then rebuilds).
    """
    recent = RecentChanges(depth=4)
    recent.reset(100)
    assert recent.covers(100)
    assert not recent.covers(99)
    recent.record(ev.SetFee(_at(101), M, 0), [])
    recent.prune(110)
    assert recent.blocks == {}
    assert recent.covers(106)
    assert not recent.covers(105)
