"""The competition watch (keeper.execution.rivals) against a node double and a sender double.

The node serves a pending-transaction filter; the market double (tests/support/fake_market.py)
names the account a transaction shaped like its liquidation call is for. Real pools and
replacements at a nonce are tested on Anvil (tests/integration/test_bidding.py).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import pytest

from keeper.execution.rivals import RivalWatch
from keeper.execution.transactions import Sent
from keeper.strategy.bidding import BidLimits, Fees
from tests.support.fake_market import SPENDER, FakeMarket

if TYPE_CHECKING:
    from keeper.chain.client import ChainClient
    from keeper.execution.sender import TxSender

GWEI = 10**9
BASE = 10 * GWEI
OURS = "0x" + "0a" * 20
ACCOUNT = "0x" + "ac" * 20
LIMITS = BidLimits(GWEI, 50 * GWEI, 5_000, 3 * GWEI, 500 * GWEI)  # tip ceiling 3 gwei


class _Node:
    """A pending-transaction filter over a list of transactions the test adds."""

    def __init__(self) -> None:
        self.txs: dict[str, dict[str, Any]] = {}
        self.new: list[str] = []

    def add(self, sender: str, account: str, tip: int, max_fee: int) -> str:
        tx_hash = f"0x{len(self.txs) + 1:064x}"
        self.txs[tx_hash] = {
            "hash": tx_hash,
            "from": sender,
            "to": SPENDER,
            "input": "0x" + account[2:],
            "maxFeePerGas": hex(max_fee),
            "maxPriorityFeePerGas": hex(tip),
            "blockNumber": None,
        }
        self.new.append(tx_hash)
        return tx_hash

    async def pending_transactions(self) -> None:
        return None

    async def request(self, method: str, params: Any = (), **_: Any) -> Any:
        if method == "eth_newPendingTransactionFilter":
            return "0xf1"
        if method == "eth_getFilterChanges":
            new, self.new = self.new, []
            return new
        return True

    async def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        return [self.txs[params[0]] for _, params in calls]


@dataclass
class _Fees:
    async def base_and_tip(self, client: Any, *, fresh: bool = False) -> tuple[int, int]:
        return BASE, GWEI


@dataclass
class _Signer:
    address: str = OURS


@dataclass
class _Sender:
    """Records what the watch asks to replace; a replacement always goes through."""

    signer: _Signer = field(default_factory=_Signer)
    fees: _Fees = field(default_factory=_Fees)
    replaced: list[tuple[int, Fees]] = field(default_factory=list)

    async def outbid(self, sent: Sent, fees: Fees) -> bool:
        self.replaced.append((sent.nonce, fees))
        sent.fees.append(fees)
        return True


def _sent(nonce: int, purpose: str) -> Sent:
    return Sent(nonce, SPENDER, "0x", 100_000, purpose, {}, fees=[LIMITS.opening(BASE)])


async def _watch(node: _Node, sender: _Sender) -> RivalWatch:
    return RivalWatch(
        cast("ChainClient", node), cast("TxSender", sender), FakeMarket(), poll_s=0.005
    )


async def _settle_down() -> None:
    for _ in range(20):
        await asyncio.sleep(0.01)


@pytest.mark.asyncio
async def test_a_rival_at_our_tip_is_outbid_on_every_pending_transaction_of_the_plan():
    """A rival of our account at our 1 gwei tip: the approval and the liquidation are both
    replaced at their nonces with tip 1.125 gwei (the least valid replacement above it), and
    the contest says it outbid one rival; our own and other accounts' transactions are ignored.
    """
    node, sender = _Node(), _Sender()
    watch = await _watch(node, sender)
    approval, liquidation = _sent(7, "approve"), _sent(8, "liquidation")
    async with watch.watching(ACCOUNT, [approval, liquidation], LIMITS) as contest:
        assert watch.active
        node.add(OURS, ACCOUNT, 3 * GWEI, 30 * GWEI)  # ours, seen in the pool
        node.add("0x" + "0b" * 20, "0x" + "99" * 20, 3 * GWEI, 30 * GWEI)  # another account
        await _settle_down()
        assert sender.replaced == []
        node.add("0x" + "0b" * 20, ACCOUNT, GWEI, 21 * GWEI)
        await _settle_down()
    expected = Fees(23_625_000_000, 1_125_000_000)
    assert sender.replaced == [(7, expected), (8, expected)]
    assert contest.note() == "outbid 1 rival bid(s)"
    await _settle_down()
    assert not watch.active  # the last plan settled: the watch stops


@pytest.mark.asyncio
async def test_a_rival_below_us_is_not_answered_and_one_above_the_ceiling_is_let_go():
    """A rival under our tip leaves our fees alone; one at our 3 gwei ceiling cannot be
    beaten within it: nothing is replaced and the contest records that we let it go.
    """
    node, sender = _Node(), _Sender()
    watch = await _watch(node, sender)
    liquidation = _sent(3, "liquidation")
    async with watch.watching(ACCOUNT, [liquidation], LIMITS) as contest:
        node.add("0x" + "0b" * 20, ACCOUNT, GWEI - 1, 21 * GWEI)
        await _settle_down()
        assert sender.replaced == []
        rival = node.add("0x" + "0b" * 20, ACCOUNT, 3 * GWEI, 40 * GWEI)
        await _settle_down()
    assert sender.replaced == []
    assert contest.note().startswith(f"let go rival {rival}")


@pytest.mark.asyncio
async def test_an_earlier_plans_transactions_at_lower_nonces_are_raised_too():
    """Two plans in flight (nonces 1-2 and 3-4); a rival outbids only the second plan's account:
    the first plan's approval and liquidation are raised too (a block takes our nonces in order),
    each within its own limits, lowest nonce first.
    """
    node, sender = _Node(), _Sender()
    watch = await _watch(node, sender)
    first = [_sent(1, "approve"), _sent(2, "liquidation")]
    second = [_sent(3, "approve"), _sent(4, "liquidation")]
    async with (
        watch.watching("0x" + "99" * 20, first, LIMITS),
        watch.watching(ACCOUNT, second, LIMITS) as contest,
    ):
        node.add("0x" + "0b" * 20, ACCOUNT, 2 * GWEI, 30 * GWEI)
        await _settle_down()
    assert [nonce for nonce, _ in sender.replaced] == [1, 2, 3, 4]
    assert {fees for _, fees in sender.replaced} == {Fees(30 * GWEI + 1, 2 * GWEI + 1)}
    assert contest.outbids == 1
