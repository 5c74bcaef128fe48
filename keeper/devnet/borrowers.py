"""Deterministic borrowers with varied positions, some close to their liquidation threshold.

:func:`plan_positions` draws the planned positions from a seed (the same on both devnet
versions); :func:`special_positions` adds a few fixed v3.6 cases after them (eMode accounts, one
of them with collateral outside its category, a position under 2,000 USD, and the account whose
LINK collateral the world then gives liquidation threshold 0).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from keeper.chain.abi import Codec
from keeper.devnet.artifacts import npm_artifact
from keeper.devnet.deployer import Deployer, codec_of

if TYPE_CHECKING:
    from collections.abc import Sequence

    from keeper.devnet.aave_market import MarketAddresses
    from keeper.devnet.market_spec import EModeBitmapSpec, ReserveSpec

GAS_ETH = 10**18
BPS = 10_000
# Share of borrowing power used, by profile. "edge" positions sit a few percent above their
# liquidation threshold, so a 10-30% price move makes them liquidatable.
PROFILES: tuple[tuple[str, float, tuple[int, int]], ...] = (
    ("edge", 0.35, (9300, 9900)),
    ("moderate", 0.35, (6000, 9000)),
    ("safe", 0.20, (1500, 6000)),
    ("supplier", 0.10, (0, 0)),
)


@dataclass(frozen=True)
class Position:
    """What one devnet account supplies and borrows (token units)."""

    address: str
    profile: str
    supplies: tuple[tuple[str, int], ...]
    borrows: tuple[tuple[str, int], ...]
    emode: int = 0  # eMode category entered before supplying (0: none)


def borrower_address(seed: int, index: int) -> str:
    """A keyless address derived from the seed; Anvil impersonation lets it send."""
    digest = keccak(b"keeper devnet borrower" + seed.to_bytes(8, "big") + index.to_bytes(8, "big"))
    return str(to_checksum_address(digest[-20:]))


def plan_positions(count: int, seed: int, reserves: Sequence[ReserveSpec]) -> list[Position]:
    """Positions for ``count`` accounts, the same for the same seed."""
    rng = random.Random(seed)  # noqa: S311 - deterministic test data, not cryptography
    by_symbol = {r.symbol: r for r in reserves}
    symbols = [r.symbol for r in reserves]
    positions = []
    for i in range(count):
        draw = rng.random()
        acc = 0.0
        profile, low, high = PROFILES[-1][0], 0, 0
        for name, share, (lo, hi) in PROFILES:
            acc += share
            if draw < acc:
                profile, low, high = name, lo, hi
                break
        n_coll = 1 if rng.random() < 0.7 else 2
        collaterals = rng.sample(symbols, n_coll)
        remaining = [s for s in symbols if s not in collaterals]
        debts = rng.sample(remaining, 1 if len(remaining) == 1 or rng.random() < 0.75 else 2)
        total_usd = int(10 ** rng.uniform(2.7, 5.7))  # about $500 .. $500k
        supplies = []
        power = 0  # borrowing power in oracle base units (USD, 8 decimals)
        for k, sym in enumerate(collaterals):
            spec = by_symbol[sym]
            usd = total_usd if n_coll == 1 else (total_usd * (60 if k == 0 else 40)) // 100
            amount = usd * 10**spec.decimals * 10**8 // spec.price
            supplies.append((sym, amount))
            power += amount * spec.price // 10**spec.decimals * spec.ltv // BPS
        borrows = []
        if profile != "supplier":
            used = power * rng.randint(low, high) // BPS
            for k, sym in enumerate(debts):
                spec = by_symbol[sym]
                part = used if len(debts) == 1 else used * (55 if k == 0 else 45) // 100
                borrows.append((sym, part * 10**spec.decimals // spec.price))
        positions.append(
            Position(borrower_address(seed, i), profile, tuple(supplies), tuple(borrows))
        )
    return positions


# The v3.6 world's special accounts: (profile, eMode category, collateral in USD by symbol, the
# asset borrowed, share of borrowing power used in bps). Borrowing power uses the eMode LTV for
# collateral in the category's bitmap and the reserve's LTV for the rest, as the Pool does.
SPECIAL_ACCOUNTS: tuple[tuple[str, int, tuple[tuple[str, int], ...], str, int], ...] = (
    # Under the 2,000 USD close-factor bound, HF ~1.06; a 30% WETH drop leaves bad debt.
    ("small-edge", 0, (("WETH", 1_500),), "USDC", 9700),
    # eMode 1 (ETH-BTC): WETH borrowed against WBTC at HF ~1.05.
    ("emode1-edge", 1, (("WBTC", 50_000),), "WETH", 9800),
    # eMode 1 with USDC collateral outside the category's bitmap (reserve LTV/LT/bonus).
    ("emode1-mixed", 1, (("WBTC", 20_000), ("USDC", 10_000)), "WETH", 9500),
    # eMode 2 (ETH-USD): USDC borrowed against WETH at HF ~1.06.
    ("emode2-edge", 2, (("WETH", 30_000),), "USDC", 9800),
    # eMode 2 with WBTC collateral outside the category's bitmap.
    ("emode2-mixed", 2, (("WETH", 20_000), ("WBTC", 15_000)), "USDC", 9500),
    # WETH + LINK; the world then sets LINK's LTV and LT to 0: HF ~1.06 on WETH alone.
    ("lt0", 0, (("WETH", 6_000), ("LINK", 4_000)), "USDC", 6300),
)


def special_address(profile: str) -> str:
    """The fixed, keyless address of a special account."""
    digest = keccak(b"keeper devnet special account " + profile.encode())
    return str(to_checksum_address(digest[-20:]))


def special_positions(
    reserves: Sequence[ReserveSpec], emodes: Sequence[EModeBitmapSpec]
) -> list[Position]:
    """The v3.6 world's special accounts (SPECIAL_ACCOUNTS), the same every time."""
    by_symbol = {r.symbol: r for r in reserves}
    by_id = {e.id: e for e in emodes}
    positions = []
    for profile, emode_id, collateral_usd, debt_symbol, use_bps in SPECIAL_ACCOUNTS:
        emode = by_id.get(emode_id)
        supplies = []
        power = 0  # oracle base units (USD, 8 decimals)
        for sym, usd in collateral_usd:
            spec = by_symbol[sym]
            supplies.append((sym, usd * 10**spec.decimals * 10**8 // spec.price))
            ltv = emode.ltv if emode is not None and sym in emode.collateral else spec.ltv
            power += usd * 10**8 * ltv // BPS
        debt = by_symbol[debt_symbol]
        borrow = power * use_bps // BPS * 10**debt.decimals // debt.price
        positions.append(
            Position(
                special_address(profile),
                profile,
                tuple(supplies),
                ((debt_symbol, borrow),),
                emode_id,
            )
        )
    return positions


class MarketActions:
    """Supply, borrow and mint on the devnet market from impersonated accounts."""

    def __init__(self, dep: Deployer, market: MarketAddresses) -> None:
        self.dep = dep
        self.market = market
        self.token = codec_of(npm_artifact("MintableERC20"))
        self.pool = Codec.named("aave_v3/IPool")

    async def mint(self, to: str, symbol: str, amount: int) -> None:
        """Mint devnet tokens to ``to`` (the mock token lets anyone mint)."""
        token = self.market.assets[symbol].address
        await self.dep.call_fn(to, token, self.token, "mint(address,uint256)", to, amount)

    async def supply(self, who: str, symbol: str, amount: int) -> None:
        """Mint, approve and supply ``amount`` of ``symbol`` for ``who``."""
        token = self.market.assets[symbol].address
        await self.mint(who, symbol, amount)
        await self.dep.call_fn(who, token, self.token, "approve", self.market.pool, amount)
        await self.dep.call_fn(who, self.market.pool, self.pool, "supply", token, amount, who, 0)

    async def borrow(self, who: str, symbol: str, amount: int) -> None:
        """Borrow at the variable rate."""
        token = self.market.assets[symbol].address
        await self.dep.call_fn(who, self.market.pool, self.pool, "borrow", token, amount, 2, 0, who)

    async def set_emode(self, who: str, category: int) -> None:
        """Enter an eMode category (0 leaves eMode)."""
        await self.dep.call_fn(who, self.market.pool, self.pool, "setUserEMode", category)

    async def open(self, position: Position) -> None:
        """Open one planned position (entering its eMode category first, if any)."""
        await self.dep.set_balance(position.address, GAS_ETH)
        if position.emode:
            await self.set_emode(position.address, position.emode)
        for sym, amount in position.supplies:
            await self.supply(position.address, sym, amount)
        for sym, amount in position.borrows:
            if amount > 0:
                await self.borrow(position.address, sym, amount)
