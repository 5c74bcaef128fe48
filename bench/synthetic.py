"""A synthetic Aave V3 market in memory: reserves, eMode, and N accounts with random positions."""

from __future__ import annotations

import random

from keeper.protocols.aave_v3.config import ReserveConfig
from keeper.protocols.aave_v3.math import RAY
from keeper.protocols.aave_v3.state import AccountState, EModeCategory, ReserveState

RESERVE_COUNT = 8
DECIMALS = [18, 6, 8, 18, 6, 18, 18, 8]
PRICES = [3_000, 1, 60_000, 3_100, 1, 2_500, 15, 58_000]


def reserves() -> list[ReserveState]:
    """Eight reserves with realistic parameters and accrued indices."""
    out = []
    for i in range(RESERVE_COUNT):
        ltv, lt = 7_000 + 100 * i, 7_500 + 100 * i
        word = (
            ltv
            | lt << 16
            | 10_500 << 32
            | DECIMALS[i] << 48
            | 1 << 56
            | (1 if i in (0, 3, 5) else 0) << 168
        )
        asset = "0x" + f"{i + 1:02x}" * 20
        out.append(
            ReserveState(
                asset,
                i,
                ReserveConfig.decode(word),
                RAY + i * 10**25,
                (3 + i) * RAY // 100,
                RAY + i * 3 * 10**25,
                (5 + i) * RAY // 100,
                1_700_000_000,
                asset,
                asset,
                asset,
            )
        )
    return out


def prices(rs: list[ReserveState]) -> dict[str, int]:
    """USD prices with 8 decimals."""
    return {r.asset: PRICES[r.index] * 10**8 for r in rs}


def emodes() -> dict[int, EModeCategory]:
    """One ETH-correlated category."""
    return {1: EModeCategory(1, 9_000, 9_300, 10_300, None)}


def accounts(n: int, seed: int = 1) -> list[AccountState]:
    """N accounts, 1-3 collaterals and 0-2 debts each, a tenth in eMode."""
    rng = random.Random(seed)
    out = []
    for k in range(n):
        used = rng.sample(range(RESERVE_COUNT), rng.randint(1, 4))
        n_coll = max(1, len(used) - rng.randint(0, 2))
        config = 0
        coll: dict[int, int] = {}
        debt: dict[int, int] = {}
        for j, i in enumerate(used):
            unit = 10 ** DECIMALS[i]
            if j < n_coll:
                config |= 1 << (2 * i + 1)
                coll[i] = rng.randint(1, 10**6) * unit // PRICES[i]
            else:
                config |= 1 << (2 * i)
                debt[i] = rng.randint(1, 5 * 10**5) * unit // PRICES[i]
        emode = 1 if rng.random() < 0.1 and all(i in (0, 3, 5) for i in used) else 0
        out.append(AccountState(f"0x{k:040x}", config, emode, coll, debt))
    return out
