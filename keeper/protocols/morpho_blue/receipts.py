"""What a mined Morpho liquidation did, read from its ``Liquidate`` events."""

from __future__ import annotations

from typing import TYPE_CHECKING

from keeper.chain.types import Log
from keeper.core.market import ObservedLiquidation
from keeper.core.outcome import Realised
from keeper.errors import TransactionError
from keeper.protocols.morpho_blue import events as ev
from keeper.protocols.morpho_blue.flash import LIQUIDATOR

if TYPE_CHECKING:
    from keeper.chain.client import ChainClient
    from keeper.chain.types import Receipt
    from keeper.protocols.morpho_blue.planner import MorphoPlan
    from keeper.protocols.morpho_blue.types import MarketParams

LIQUIDATE_TOPIC = ev.EVENTS.topic("Liquidate")


def _liquidations(logs: list[Log], morpho: str) -> list[ev.Liquidate]:
    out = []
    for entry in logs:
        if entry.address.lower() != morpho.lower():
            continue
        event = ev.decode(entry)
        if isinstance(event, ev.Liquidate):
            out.append(event)
    return out


def _flash_profit(logs: list[Log], liquidator: str) -> int | None:
    """The profit our MorphoLiquidator paid out (its ``Liquidated`` event), if it ran."""
    for entry in logs:
        if entry.address.lower() != liquidator.lower():
            continue
        decoded = LIQUIDATOR.decode_log(entry.as_rpc())
        if decoded is not None and decoded[0] == "Liquidated":
            return int(decoded[1]["profit"])
    return None


def realised(plan: MorphoPlan, receipt: Receipt, morpho: str, liquidator: str) -> Realised:
    """Repaid assets and seized collateral of our ``Liquidate`` in the receipt.

    ``liquidator`` is Morpho's caller: the keeper's address, or our MorphoLiquidator in flash
    mode (whose ``Liquidated`` event then gives the profit paid to the owner).
    """
    logs = list(receipt.logs)
    for event in _liquidations(logs, morpho):
        if (
            event.id == plan.payload.market_id
            and event.borrower == plan.account
            and event.caller == liquidator
        ):
            return Realised(
                event.repaid_assets, event.seized_assets, _flash_profit(logs, liquidator)
            )
    raise TransactionError(f"receipt {receipt.tx_hash} has no Liquidate of {plan.account}")


async def liquidate_logs(
    client: ChainClient, morpho: str, from_block: int, to_block: int, borrower: str | None = None
) -> list[ev.Liquidate]:
    """``Liquidate`` events of the range (of one borrower, if given), in chain order."""
    if to_block < from_block:
        return []
    topics: list[object] = [LIQUIDATE_TOPIC, None, None]
    if borrower is not None:
        topics.append("0x" + "00" * 12 + borrower[2:].lower())
    raw = await client.get_logs(
        address=morpho, topics=topics, from_block=from_block, to_block=to_block
    )
    return _liquidations([Log.from_rpc(r) for r in raw], morpho)


async def winner(
    client: ChainClient, plan: MorphoPlan, receipt: Receipt, morpho: str, liquidator: str
) -> str | None:
    """Another liquidator's transaction on the same position since we planned, if any."""
    block, index = receipt.block_number, receipt.tx_index
    found = await liquidate_logs(
        client, morpho, min(plan.block + 1, block), block, borrower=plan.account
    )
    for event in found:
        if event.caller == liquidator or event.id != plan.payload.market_id:
            continue
        if event.at.block < block or event.at.tx_index < index:
            return event.at.tx_hash
    return None


async def observed(
    client: ChainClient,
    morpho: str,
    params: dict[str, MarketParams],
    from_block: int,
    to_block: int,
) -> list[ObservedLiquidation]:
    """Every liquidation in the range, with the market's tokens (unknown markets left out)."""
    out = []
    for event in await liquidate_logs(client, morpho, from_block, to_block):
        p = params.get(event.id)
        if p is None:
            continue
        out.append(
            ObservedLiquidation(
                account=event.borrower,
                block=event.at.block,
                tx_hash=event.at.tx_hash,
                log_index=event.at.log_index,
                liquidator=event.caller,
                spend=(p.loan_token, event.repaid_assets),
                receive=(p.collateral_token, event.seized_assets),
            )
        )
    return out
