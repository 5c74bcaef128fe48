"""Random small Aave markets for the risk property tests: several reserves, eMode, rounding.

Indices above one ray and odd decimals exercise every rounding of the health math; eMode
categories follow the version's membership rule (reserve category before 3.2, bitmaps after),
v3.0 accounts may hold stable debt, a v3.6 reserve may have LT 0, and a pre-3.2 category may
have a price source.
"""

from __future__ import annotations

import random
from dataclasses import replace

from keeper.protocols.aave_v3.state import AccountState, EModeCategory, ReserveState, StableDebt
from keeper.risk.market import MarketState
from tests.unit.risk_market import config

RAY = 10**27
NOW = 1_000_000
DECIMALS = (18, 6, 8, 0, 18)


def random_market(
    seed: int,
    version: str,
    accounts: int = 12,
    *,
    price_source: bool = False,
) -> MarketState:
    """A market of five reserves and ``accounts`` random positions on Pool ``version``."""
    rng = random.Random(seed)
    bitmaps = version not in {"3.0", "3.1"}
    reserves = {}
    prices = {}
    for i, decimals in enumerate(DECIMALS):
        asset = "0x" + f"{i + 1:02x}" * 20
        lt = 0 if (i == 4 and version == "3.6") else rng.choice((5000, 7000, 7800, 8250, 9000))
        cfg = config(decimals, lt=lt, ltv=max(0, lt - 500), bonus=rng.choice((10500, 11000)))
        if not bitmaps and i in (0, 2):
            cfg = replace(cfg, emode_category=1)
        reserves[asset] = ReserveState(
            asset=asset,
            index=i,
            config=cfg,
            liquidity_index=RAY + rng.randint(0, RAY // 3),
            liquidity_rate=0,
            variable_borrow_index=RAY + rng.randint(0, RAY // 2),
            variable_borrow_rate=0,
            last_update=NOW,
            a_token=asset,
            stable_debt_token=asset,
            variable_debt_token=asset,
        )
        prices[asset] = rng.randint(1, 10**12) if i != 1 else 10**8 + rng.randint(-(10**6), 10**6)
    assets = list(reserves)
    source = assets[0] if price_source and not bitmaps else None
    emodes = {
        1: EModeCategory(
            1,
            9000,
            9300,
            10300,
            source,
            collateral_bitmap=0b101 if bitmaps else None,
            borrowable_bitmap=0b101 if bitmaps else None,
        )
    }
    out = {}
    for k in range(accounts):
        account = _account(rng, k, version)
        out[account.address] = account
    return MarketState(
        block=1,
        timestamp=NOW,
        reserves=reserves,
        emodes=emodes,
        prices=prices,
        accounts=out,
        symbols={a: f"R{i}" for i, a in enumerate(assets)},
        pool_version=version,
    )


def _account(rng: random.Random, k: int, version: str) -> AccountState:
    config = 0
    collateral: dict[int, int] = {}
    debt: dict[int, int] = {}
    stable: dict[int, StableDebt] = {}
    for i, decimals in enumerate(DECIMALS):
        unit = 10**decimals
        if rng.random() < 0.5:
            config |= 1 << (2 * i + 1)
            collateral[i] = rng.randint(0, 10**6) * unit // rng.randint(1, 10**4)
        if rng.random() < 0.35:
            config |= 1 << (2 * i)
            debt[i] = rng.randint(0, 10**5) * unit // rng.randint(1, 10**4)
            if version == "3.0" and rng.random() < 0.3:
                stable[i] = StableDebt(rng.randint(1, 10**4) * unit, 0, NOW)
    emode = 1 if rng.random() < 0.3 else 0
    return AccountState(f"0x{k:040x}", config, emode, collateral, debt, stable)
