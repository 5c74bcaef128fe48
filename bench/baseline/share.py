"""The baseline's share mode: it bids a share of what it expects to earn, within the budget.

Integers throughout: prices in the oracle's base units per whole token, the bonus in basis
points (10,500 = +5%), the expected profit in base units, fees in wei per gas.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from keeper.chain.abi import Codec

if TYPE_CHECKING:
    from collections.abc import Mapping

    from bench.baseline.rpc import Rpc

DATA = Codec.named("aave_v3/IPoolDataProvider")
WAD = 10**18
# The gas a liquidation is expected to use, and the health factor below which the Pool lets the
# whole debt be repaid (half of it above).
EXPECTED_GAS = 500_000
FULL_CLOSE_HF = 95 * 10**16


@dataclass(frozen=True)
class Pick:
    """The pair and amount to liquidate, and what the bot expects to earn (base units)."""

    collateral: str
    debt: str
    cover: int
    profit_base: int
    native_price: int


async def reserve_terms(
    rpc: Rpc, data_provider: str, assets: list[str]
) -> dict[str, tuple[int, int]]:
    """Each reserve's (decimals, liquidation bonus in bps), by lower-case address."""
    raw = await rpc.batch(
        [
            (
                "eth_call",
                [
                    {"to": data_provider, "data": DATA.encode("getReserveConfigurationData", a)},
                    "latest",
                ],
            )
            for a in assets
        ]
    )
    terms = {}
    for asset, item in zip(assets, raw, strict=True):
        config = DATA.decode("getReserveConfigurationData", bytes.fromhex(item[2:]))
        terms[asset.lower()] = (int(config[0]), int(config[3]))
    return terms


def expected_profit(
    terms: Mapping[str, tuple[int, int]],
    prices: Mapping[str, int],
    pair: tuple[str, str],
    held: tuple[int, int],
    debt: int,
    hf: int,
) -> int:
    """The bonus on what the close factor lets us repay of ``debt``, in base units.

    Within our balance and within the collateral the borrower holds (when the collateral runs
    out first, the Pool repays only what it covers). ``pair``: (collateral, debt
    asset); ``held``: (the borrower's collateral, our balance of the debt asset, capped at the
    debt).
    """
    coll, debt_asset = pair[0].lower(), pair[1].lower()
    coll_dec, bonus = terms[coll]
    debt_dec = terms[debt_asset][0]
    repay = held[1] if hf < FULL_CLOSE_HF else min(held[1], debt // 2)
    repaid = repay * prices[debt_asset] // 10**debt_dec
    collateral = held[0] * prices[coll] // 10**coll_dec
    seized = min(collateral, repaid * bonus // 10_000)
    return int(max(0, seized - seized * 10_000 // max(1, bonus)))


def share_price(pick: Pick, share_bps: int, base_fee: int, max_tip: int, max_fee: int) -> int:
    """Base fee + ``share_bps`` of the expected profit per gas, the tip within ``max_tip``."""
    per_gas = pick.profit_base * WAD // (EXPECTED_GAS * max(1, pick.native_price))
    tip = min(per_gas * share_bps // 10_000, max_tip)
    return min(base_fee + tip, max_fee)
