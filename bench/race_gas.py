"""Gas each keeper spent on transactions that did not liquidate, per shock (issue 18, item 5).

Read from the chain: every transaction a keeper's address sent in the blocks after each shock
(up to the next shock, or the race's last block) and its receipt. One liquidated when its
receipt carries a ``LiquidationCall`` of the Pool; every other one is gas spent on losing: a
liquidation attempt that lost its race (sent to the Pool or to our contract, reverted or
stopped early) and, on the direct path, the approvals and revocations around it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from keeper.protocols.aave_v3.market import POOL

if TYPE_CHECKING:
    from collections.abc import Mapping

    from keeper.chain.client import ChainClient

LIQUIDATION_TOPIC = POOL.topic("LiquidationCall")


async def lost_gas(
    client: ChainClient,
    keepers: Mapping[str, str],
    attempt_targets: Mapping[str, str],
    pool: str,
    shock_blocks: list[int],
    last_block: int,
) -> dict[str, Any]:
    """Per keeper: the gas of its transactions that did not liquidate, per shock and per tx.

    ``keepers``: name -> address; ``attempt_targets``: name -> where its liquidations are sent
    (the Pool or its contract), which splits lost attempts from the rest (approvals).
    """
    names = {address.lower(): name for name, address in keepers.items()}
    per: dict[str, dict[str, Any]] = {
        n: {"per_shock": [], "lost_attempts": [], "other": [], "liquidations": 0} for n in keepers
    }
    bounds = [*shock_blocks[1:], last_block + 1]
    for shock, end in zip(shock_blocks, bounds, strict=True):
        spent = dict.fromkeys(keepers, 0)
        for number in range(shock + 1, end):
            block = await client.request("eth_getBlockByNumber", [hex(number), True])
            mine = [t for t in block["transactions"] if str(t["from"]).lower() in names]
            receipts = await client.batch(
                [("eth_getTransactionReceipt", [t["hash"]]) for t in mine]
            )
            for tx, receipt in zip(mine, receipts, strict=True):
                name = names[str(tx["from"]).lower()]
                if _liquidated(receipt, pool):
                    per[name]["liquidations"] += 1
                    continue
                gas = int(receipt["gasUsed"], 16)
                spent[name] += gas
                attempt = str(tx.get("to") or "").lower() == attempt_targets[name].lower()
                per[name]["lost_attempts" if attempt else "other"].append(gas)
        for name, gas in spent.items():
            per[name]["per_shock"].append(gas)
    return {name: _summary(figures) for name, figures in per.items()}


def _liquidated(receipt: dict[str, Any], pool: str) -> bool:
    return int(receipt["status"], 16) == 1 and any(
        log["address"].lower() == pool.lower() and log["topics"][0] == LIQUIDATION_TOPIC
        for log in receipt["logs"]
    )


def _mean(values: list[int]) -> int | None:
    return sum(values) // len(values) if values else None


def _summary(figures: dict[str, Any]) -> dict[str, Any]:
    every = figures["lost_attempts"] + figures["other"]
    return {
        "liquidations": figures["liquidations"],
        "not_liquidating_txs": len(every),
        "lost_attempts": len(figures["lost_attempts"]),
        "gas_per_shock_mean": _mean(figures["per_shock"]),
        "gas_per_shock_max": max(figures["per_shock"], default=None),
        "gas_per_not_liquidating_tx_mean": _mean(every),
        "gas_per_lost_attempt_mean": _mean(figures["lost_attempts"]),
        "gas_total": sum(every),
    }
