"""What a mined liquidation of ours did, read from its receipt and the Pool's events."""

from __future__ import annotations

from typing import TYPE_CHECKING

from keeper.chain.abi import Codec
from keeper.core.market import ObservedLiquidation
from keeper.core.outcome import Realised
from keeper.errors import TransactionError
from keeper.protocols.aave_v3.market import POOL

if TYPE_CHECKING:
    from keeper.chain.client import ChainClient
    from keeper.chain.types import Receipt
    from keeper.protocols.aave_v3.planner import AavePlan

LIQUIDATION_TOPIC = POOL.topic("LiquidationCall")
LIQUIDATOR = Codec.named("FlashLiquidator")


def realised(plan: AavePlan, receipt: Receipt, pool: str, liquidator: str) -> Realised:
    """Amounts from our ``LiquidationCall`` (and the flash contract's ``Liquidated`` profit)."""
    moved: tuple[int, int] | None = None
    profit: int | None = None
    for entry in receipt.logs:
        address = entry.address.lower()
        if address == pool.lower():
            decoded = POOL.decode_log(entry.as_rpc())
            if decoded is None or decoded[0] != "LiquidationCall":
                continue
            args = decoded[1]
            if args["user"] == plan.account and args["liquidator"] == liquidator:
                moved = int(args["debtToCover"]), int(args["liquidatedCollateralAmount"])
        elif address == liquidator.lower():
            decoded = LIQUIDATOR.decode_log(entry.as_rpc())
            if decoded is not None and decoded[0] == "Liquidated":
                profit = int(decoded[1]["profit"])
    if moved is None:
        raise TransactionError(f"receipt {receipt.tx_hash} has no LiquidationCall")
    return Realised(moved[0], moved[1], profit)


async def winner(
    client: ChainClient, plan: AavePlan, receipt: Receipt, pool: str, liquidator: str
) -> str | None:
    """The competitor's transaction, if another liquidator got to the account first.

    Looks for a LiquidationCall of the same account by someone else in the blocks since we
    planned, or earlier in our own block.
    """
    block, index = receipt.block_number, receipt.tx_index
    logs = await client.get_logs(
        address=pool,
        topics=[LIQUIDATION_TOPIC, None, None, "0x" + "00" * 12 + plan.account[2:].lower()],
        from_block=min(plan.block + 1, block),
        to_block=block,
    )
    for entry in logs:
        decoded = POOL.decode_log(entry)
        if decoded is None or decoded[1]["liquidator"] == liquidator:
            continue
        if int(entry["blockNumber"], 16) < block or int(entry["transactionIndex"], 16) < index:
            return str(entry["transactionHash"])
    return None


async def observed(
    client: ChainClient, pool: str, from_block: int, to_block: int
) -> list[ObservedLiquidation]:
    """Every ``LiquidationCall`` of ``pool`` in the range, in chain order."""
    if to_block < from_block:
        return []
    logs = await client.get_logs(
        address=pool, topics=[LIQUIDATION_TOPIC], from_block=from_block, to_block=to_block
    )
    out = []
    for entry in logs:
        decoded = POOL.decode_log(entry)
        if decoded is None or decoded[0] != "LiquidationCall":
            continue
        args = decoded[1]
        out.append(
            ObservedLiquidation(
                account=str(args["user"]),
                block=int(str(entry["blockNumber"]), 16),
                tx_hash=str(entry["transactionHash"]),
                log_index=int(str(entry.get("logIndex") or "0x0"), 16),
                liquidator=str(args["liquidator"]),
                spend=(str(args["debtAsset"]), int(args["debtToCover"])),
                receive=(str(args["collateralAsset"]), int(args["liquidatedCollateralAmount"])),
                to_share_token=bool(args["receiveAToken"]),
            )
        )
    return out
