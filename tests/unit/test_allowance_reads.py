"""When an allowance read is trusted to decide a plan's approvals.

Our own transactions that set or spend the allowance (approvals, revocations, liquidations of
that debt token) change it: one still open, or mined after the block the allowance was read at,
makes the read stale, and the plan then resets and approves whatever the read said.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

import pytest

from keeper.execution.inventory import InventoryExecutor
from keeper.execution.journal import Journal
from keeper.strategy.plan import LiquidationPlan

if TYPE_CHECKING:
    from pathlib import Path

    from keeper.chain.client import ChainClient
    from keeper.execution.sender import TxSender

ME = "0x" + "11" * 20
POOL_ADDRESS = "0x" + "22" * 20
USDC = "0x" + "aa" * 20
DAI = "0x" + "bb" * 20
PLAN = LiquidationPlan(
    account="0x" + "33" * 20,
    collateral_asset="0x" + "cc" * 20,
    debt_asset=USDC,
    debt_to_cover=500,
    expected_collateral=1,
    expected_profit_base=1,
    health_factor=9 * 10**17,
    block=100,
)


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "journal.sqlite", chain_id=1)


def _executor(journal: Journal) -> InventoryExecutor:
    sender = SimpleNamespace(journal=journal, signer=SimpleNamespace(address=ME))
    return InventoryExecutor(
        cast("ChainClient", None),
        cast("TxSender", sender),
        pool=POOL_ADDRESS,
        receipt_timeout_s=1.0,
    )


def _record(journal: Journal, nonce: int, to: str, purpose: str, meta: dict[str, Any]) -> str:
    tx_hash = f"0x{nonce:064x}"
    journal.record_signed(
        tx_hash=tx_hash,
        sender=ME,
        nonce=nonce,
        raw=b"\x01",
        to=to,
        data="0x",
        gas_limit=1,
        max_fee=1,
        tip=1,
        purpose=purpose,
        meta=meta,
    )
    return tx_hash


def test_with_nothing_of_ours_in_flight_the_read_decides(journal: Journal) -> None:
    executor = _executor(journal)
    assert executor._approvals_needed(PLAN, 0) == [500]
    assert executor._approvals_needed(PLAN, 500) == []
    assert executor._approvals_needed(PLAN, 7) == [0, 500]


@pytest.mark.parametrize(
    ("to", "purpose", "meta"),
    [
        (USDC, "approve", {}),  # an approval or revocation of the token
        (POOL_ADDRESS, "liquidation", {"debt_asset": USDC}),  # a liquidation spending it
    ],
)
def test_an_open_transaction_touching_the_allowance_makes_the_read_stale(
    journal: Journal, to: str, purpose: str, meta: dict[str, Any]
) -> None:
    _record(journal, 0, to, purpose, meta)
    assert _executor(journal)._approvals_needed(PLAN, 500) == [0, 500]
    assert _executor(journal)._approvals_needed(PLAN, 0) == [0, 500]


def test_one_mined_after_the_read_makes_it_stale_one_mined_at_or_before_does_not(
    journal: Journal,
) -> None:
    tx_hash = _record(journal, 0, USDC, "approve", {})
    journal.mark(tx_hash, "mined", block=PLAN.block)
    assert _executor(journal)._approvals_needed(PLAN, 500) == []
    journal.mark(tx_hash, "reverted", block=PLAN.block + 1)
    assert _executor(journal)._approvals_needed(PLAN, 500) == [0, 500]
    later = dataclasses.replace(PLAN, block=PLAN.block + 1)
    assert _executor(journal)._approvals_needed(later, 500) == []


def test_transactions_on_other_tokens_do_not_matter(journal: Journal) -> None:
    _record(journal, 0, DAI, "approve", {})
    _record(journal, 1, POOL_ADDRESS, "liquidation", {"debt_asset": DAI})
    _record(journal, 2, POOL_ADDRESS, "flash_liquidation", {"debt_asset": USDC})
    assert _executor(journal)._approvals_needed(PLAN, 500) == []
