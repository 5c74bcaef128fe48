"""Morpho's logs as typed events, decoded with the EventsLib ABI (Morpho's own ABI has none).

Pure: a log in, an event (or None for one the keeper does not need) out. Each event carries
its block and log index; accounts are those the position belongs to (``onBehalf``, the
liquidated ``borrower``), never the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eth_utils.address import to_checksum_address

from keeper.chain.abi import Codec
from keeper.protocols.morpho_blue.types import MarketParams

if TYPE_CHECKING:
    from keeper.chain.types import Log

EVENTS = Codec.named("morpho_blue/EventsLib")


@dataclass(frozen=True)
class Where:
    """The log's place in the chain."""

    block: int
    log_index: int
    tx_hash: str
    tx_index: int = 0


@dataclass(frozen=True)
class CreateMarket:
    """A market was created (its ``lastUpdate`` is the block's timestamp)."""

    at: Where
    id: str
    params: MarketParams


@dataclass(frozen=True)
class SetFee:
    """The market's fee changed (interest was accrued just before, at the old fee)."""

    at: Where
    id: str
    fee: int


@dataclass(frozen=True)
class SetFeeRecipient:
    """Fee shares go to a new address from now on."""

    at: Where
    recipient: str


@dataclass(frozen=True)
class AccrueInterest:
    """Interest accrued (``lastUpdate`` moves to the block's timestamp)."""

    at: Where
    id: str
    rate: int
    interest: int
    fee_shares: int


@dataclass(frozen=True)
class SupplyChange:
    """``Supply`` (``sign`` +1) or ``Withdraw`` (-1) of loan assets by ``account``."""

    at: Where
    id: str
    account: str
    assets: int
    shares: int
    sign: int


@dataclass(frozen=True)
class BorrowChange:
    """``Borrow`` (``sign`` +1) or ``Repay`` (-1) for ``account``."""

    at: Where
    id: str
    account: str
    assets: int
    shares: int
    sign: int


@dataclass(frozen=True)
class CollateralChange:
    """``SupplyCollateral`` (``sign`` +1) or ``WithdrawCollateral`` (-1) for ``account``."""

    at: Where
    id: str
    account: str
    assets: int
    sign: int


@dataclass(frozen=True)
class Liquidate:
    """A liquidation of ``borrower`` by ``caller``, with the bad debt it realised."""

    at: Where
    id: str
    caller: str
    borrower: str
    repaid_assets: int
    repaid_shares: int
    seized_assets: int
    bad_debt_assets: int
    bad_debt_shares: int


MorphoEvent = (
    CreateMarket
    | SetFee
    | SetFeeRecipient
    | AccrueInterest
    | SupplyChange
    | BorrowChange
    | CollateralChange
    | Liquidate
)
KNOWN = frozenset(
    {
        "CreateMarket",
        "SetFee",
        "SetFeeRecipient",
        "AccrueInterest",
        "Supply",
        "Withdraw",
        "Borrow",
        "Repay",
        "SupplyCollateral",
        "WithdrawCollateral",
        "Liquidate",
    }
)


def topics() -> list[str]:
    """topic0 of every event the state needs (an OR filter for eth_getLogs)."""
    return sorted(EVENTS.topic(n) for n in KNOWN)


def _id(value: Any) -> str:
    return "0x" + bytes(value).hex()


def decode(log: Log) -> MorphoEvent | None:  # noqa: PLR0911 - one return per event kind
    """The typed event of one of Morpho's logs, or None for one the state does not need."""
    decoded = EVENTS.decode_log(log.as_rpc())
    if decoded is None or decoded[0] not in KNOWN:
        return None
    name, a = decoded
    at = Where(log.block_number, log.log_index, log.tx_hash, log.tx_index)
    if name == "CreateMarket":
        # Addresses inside a tuple come back lower case: checksum them like every other.
        loan, coll, oracle, irm, lltv = a["marketParams"]
        loan, coll, oracle, irm = (to_checksum_address(x) for x in (loan, coll, oracle, irm))
        return CreateMarket(at, _id(a["id"]), MarketParams(loan, coll, oracle, irm, int(lltv)))
    if name == "SetFeeRecipient":
        return SetFeeRecipient(at, a["newFeeRecipient"])
    mid = _id(a["id"])
    if name == "SetFee":
        return SetFee(at, mid, int(a["newFee"]))
    if name == "AccrueInterest":
        return AccrueInterest(
            at, mid, int(a["prevBorrowRate"]), int(a["interest"]), int(a["feeShares"])
        )
    if name in ("Supply", "Withdraw"):
        sign = 1 if name == "Supply" else -1
        return SupplyChange(at, mid, a["onBehalf"], int(a["assets"]), int(a["shares"]), sign)
    if name in ("Borrow", "Repay"):
        sign = 1 if name == "Borrow" else -1
        return BorrowChange(at, mid, a["onBehalf"], int(a["assets"]), int(a["shares"]), sign)
    if name in ("SupplyCollateral", "WithdrawCollateral"):
        sign = 1 if name == "SupplyCollateral" else -1
        return CollateralChange(at, mid, a["onBehalf"], int(a["assets"]), sign)
    return Liquidate(
        at,
        mid,
        a["caller"],
        a["borrower"],
        int(a["repaidAssets"]),
        int(a["repaidShares"]),
        int(a["seizedAssets"]),
        int(a["badDebtAssets"]),
        int(a["badDebtShares"]),
    )


def market_of(event: MorphoEvent) -> str | None:
    """The market id an event belongs to (None for the contract-wide ``SetFeeRecipient``)."""
    return None if isinstance(event, SetFeeRecipient) else event.id
