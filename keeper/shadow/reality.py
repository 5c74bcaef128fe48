"""What really happened: the market's liquidations on the real chain, read from the node.

Per liquidation the market reports in a block range (its own events, decoded by its package):
the liquidator, its transaction, the fee it paid (from the transaction, its receipt and the
block's base fee) and the amounts moved. Only reads reach the node: this is shadow mode's view
of its competitors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from keeper.shadow.verdict import Bid

if TYPE_CHECKING:
    from keeper.chain.client import ChainClient
    from keeper.core.market import LendingMarket


@dataclass(frozen=True)
class RealLiquidation:
    """One liquidation mined on the real chain (amounts in token units, fees in wei)."""

    account: str
    block: int
    tx_hash: str
    log_index: int
    liquidator: str
    collateral_asset: str
    debt_asset: str
    debt_repaid: int
    collateral_seized: int
    receive_a_token: bool
    bid: Bid
    base_fee: int
    gas_used: int
    effective_gas_price: int

    @property
    def effective_tip(self) -> int:
        """The tip per gas it paid above the block's base fee."""
        return max(0, self.effective_gas_price - self.base_fee)

    @property
    def gas_cost_wei(self) -> int:
        """What its transaction paid for gas."""
        return self.gas_used * self.effective_gas_price

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready copy (integers kept exact)."""
        return {
            "account": self.account,
            "block": self.block,
            "tx_hash": self.tx_hash,
            "log_index": self.log_index,
            "liquidator": self.liquidator,
            "collateral_asset": self.collateral_asset,
            "debt_asset": self.debt_asset,
            "debt_repaid": self.debt_repaid,
            "collateral_seized": self.collateral_seized,
            "receive_a_token": self.receive_a_token,
            "max_fee": self.bid.max_fee,
            "max_tip": self.bid.max_tip,
            "base_fee": self.base_fee,
            "effective_tip": self.effective_tip,
            "gas_used": self.gas_used,
            "effective_gas_price": self.effective_gas_price,
        }


def _int(value: Any) -> int:
    return int(str(value), 16) if isinstance(value, str) else int(value)


def _bid(tx: dict[str, Any]) -> Bid:
    """A transaction's fee caps; a legacy one bids its gas price on both."""
    if tx.get("maxFeePerGas") is not None:
        return Bid(_int(tx["maxFeePerGas"]), _int(tx.get("maxPriorityFeePerGas") or 0))
    price = _int(tx.get("gasPrice") or 0)
    return Bid(price, price)


async def real_liquidations(
    client: ChainClient, market: LendingMarket, from_block: int, to_block: int
) -> list[RealLiquidation]:
    """Every liquidation of ``market`` in ``[from_block, to_block]``, in chain order."""
    if to_block < from_block:
        return []
    out: list[RealLiquidation] = []
    base_fees: dict[int, int] = {}
    txs: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    for seen in await market.observed_liquidations(client, from_block, to_block):
        block, tx_hash = seen.block, seen.tx_hash
        if block not in base_fees:
            header = await client.get_block(block)
            base_fees[block] = _int(header.get("baseFeePerGas") or 0)
        if tx_hash not in txs:
            tx = await client.request("eth_getTransactionByHash", [tx_hash])
            receipt = await client.get_receipt(tx_hash)
            txs[tx_hash] = (tx if isinstance(tx, dict) else {}, receipt or {})
        tx, receipt = txs[tx_hash]
        out.append(
            RealLiquidation(
                account=seen.account,
                block=block,
                tx_hash=tx_hash,
                log_index=seen.log_index,
                liquidator=seen.liquidator,
                collateral_asset=seen.receive[0],
                debt_asset=seen.spend[0],
                debt_repaid=seen.spend[1],
                collateral_seized=seen.receive[1],
                receive_a_token=seen.to_share_token,
                bid=_bid(tx),
                base_fee=base_fees[block],
                gas_used=_int(receipt.get("gasUsed") or 0),
                effective_gas_price=_int(
                    receipt.get("effectiveGasPrice") or tx.get("gasPrice") or 0
                ),
            )
        )
    return out
