"""When an allowance read is trusted to decide a plan's approvals.

Our own transactions that set or spend the allowance (approvals, revocations, liquidations of
that debt token) change it: one still open, or mined after the block the allowance was read at,
makes the read stale, and the plan then resets and approves whatever the read said.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from pydantic import SecretStr

from keeper.chain.client import ChainClient
from keeper.execution.fees import FeePolicy
from keeper.execution.inventory import InventoryExecutor
from keeper.execution.journal_sqlite import SqliteJournal
from keeper.execution.sender import TxSender
from keeper.execution.signer import Signer
from keeper.execution.transactor import Transactor
from tests.support.fake_market import DEBT, SPENDER, FakeMarket, fake_plan

if TYPE_CHECKING:
    from pathlib import Path

KEY = SecretStr("0x" + "59" * 32)
ME = Signer(KEY).address
POOL_ADDRESS = SPENDER
USDC = DEBT
DAI = "0x" + "bb" * 20
PLAN = fake_plan("0x" + "33" * 20, 100)


@pytest.fixture
def journal(tmp_path: Path) -> SqliteJournal:
    return SqliteJournal(tmp_path / "journal.sqlite", chain_id=1)


def _executor(journal: SqliteJournal) -> InventoryExecutor:
    """A real executor over a client that is never asked anything here."""
    client = ChainClient("http://127.0.0.1:9", retry_s=0)
    sender = TxSender(client, Signer(KEY), journal, FeePolicy(Decimal(100), Decimal(2)), chain_id=1)
    return InventoryExecutor(Transactor(client, sender, FakeMarket(), receipt_timeout_s=1.0))


def _record(journal: SqliteJournal, nonce: int, to: str, purpose: str, meta: dict[str, Any]) -> str:
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


def test_with_nothing_of_ours_in_flight_the_read_decides(journal: SqliteJournal) -> None:
    executor = _executor(journal)
    assert executor._approvals_needed(PLAN, 0) == [500]
    assert executor._approvals_needed(PLAN, 500) == []
    assert executor._approvals_needed(PLAN, 7) == [0, 500]


@pytest.mark.parametrize(
    ("to", "purpose", "meta"),
    [
        (USDC, "approve", {}),  # an approval or revocation of the token
        (POOL_ADDRESS, "liquidation", {"spend_asset": USDC}),  # a liquidation spending it
    ],
)
def test_an_open_transaction_touching_the_allowance_makes_the_read_stale(
    journal: SqliteJournal, to: str, purpose: str, meta: dict[str, Any]
) -> None:
    _record(journal, 0, to, purpose, meta)
    assert _executor(journal)._approvals_needed(PLAN, 500) == [0, 500]
    assert _executor(journal)._approvals_needed(PLAN, 0) == [0, 500]


def test_one_mined_after_the_read_makes_it_stale_one_mined_at_or_before_does_not(
    journal: SqliteJournal,
) -> None:
    tx_hash = _record(journal, 0, USDC, "approve", {})
    journal.mark(tx_hash, "mined", block=PLAN.block)
    assert _executor(journal)._approvals_needed(PLAN, 500) == []
    journal.mark(tx_hash, "reverted", block=PLAN.block + 1)
    assert _executor(journal)._approvals_needed(PLAN, 500) == [0, 500]
    later = dataclasses.replace(PLAN, block=PLAN.block + 1)
    assert _executor(journal)._approvals_needed(later, 500) == []


def test_transactions_on_other_tokens_do_not_matter(journal: SqliteJournal) -> None:
    _record(journal, 0, DAI, "approve", {})
    _record(journal, 1, POOL_ADDRESS, "liquidation", {"spend_asset": DAI})
    _record(journal, 2, POOL_ADDRESS, "flash_liquidation", {"spend_asset": USDC})
    assert _executor(journal)._approvals_needed(PLAN, 500) == []
