"""Morpho devnet positions: lenders' liquidity and borrowers near their LLTV, from a seed.

Each borrower supplies collateral in one market and borrows a share of what the LLTV allows:
"edge" borrowers at 93-99%, so a 5-20% price move makes them liquidatable; "moderate" at
60-90%; "safe" at 15-60%. A lender then supplies each market's loan token so that about 80%
of it is borrowed: with ``IrmMock`` (rate = utilisation per year) interest accrues fast.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from keeper.devnet.artifacts import npm_artifact
from keeper.devnet.deployer import Deployer, codec_of
from keeper.devnet.morpho_market import MorphoDeployment, morpho_codec
from keeper.protocols.morpho_blue.health import max_borrow

if TYPE_CHECKING:
    from keeper.chain.abi import Codec
    from keeper.devnet.morpho_market import DevMarket

GAS_ETH = 10**18
BPS = 10_000
MAX_UINT256 = 2**256 - 1
PROFILES: tuple[tuple[str, float, tuple[int, int]], ...] = (
    ("edge", 0.45, (9300, 9900)),
    ("moderate", 0.35, (6000, 9000)),
    ("safe", 0.20, (1500, 6000)),
)
# Borrowed share of each market's supply once the lender has supplied.
TARGET_UTILISATION_BPS = 8_000


@dataclass(frozen=True)
class MorphoBorrower:
    """One devnet borrower: its market, collateral and borrowed assets (token units)."""

    address: str
    market: str  # label
    profile: str
    collateral: int
    borrow: int


def morpho_borrower_address(seed: int, index: int) -> str:
    """A keyless address derived from the seed; Anvil impersonation lets it send."""
    digest = keccak(b"keeper morpho borrower" + seed.to_bytes(8, "big") + index.to_bytes(8, "big"))
    return str(to_checksum_address(digest[-20:]))


def lender_address(seed: int) -> str:
    """The devnet's lender (a keyless, impersonated address)."""
    return str(to_checksum_address(keccak(b"keeper morpho lender" + seed.to_bytes(8, "big"))[-20:]))


def plan_borrowers(count: int, seed: int, world: MorphoDeployment) -> list[MorphoBorrower]:
    """``count`` borrowers spread over the markets, the same for the same seed."""
    rng = random.Random(seed)  # noqa: S311 - deterministic test data, not cryptography
    out = []
    for i in range(count):
        market = world.markets[i % len(world.markets)]
        draw, acc = rng.random(), 0.0
        profile, low, high = PROFILES[-1][0], *PROFILES[-1][2]
        for name, share, (lo, hi) in PROFILES:
            acc += share
            if draw < acc:
                profile, low, high = name, lo, hi
                break
        coll = world.tokens[_symbol(world, market.params.collateral_token)]
        usd_value = int(10 ** rng.uniform(3.0, 5.5))  # about $1k .. $300k
        collateral = usd_value * 10**coll.decimals * 10**8 // coll.usd
        limit = max_borrow(collateral, market.price, market.params.lltv)
        borrow = limit * rng.randint(low, high) // BPS
        out.append(
            MorphoBorrower(
                morpho_borrower_address(seed, i), market.label, profile, collateral, borrow
            )
        )
    return out


def _symbol(world: MorphoDeployment, address: str) -> str:
    return next(s for s, t in world.tokens.items() if t.address == address)


async def open_positions(
    dep: Deployer, admin: str, world: MorphoDeployment, borrowers: list[MorphoBorrower], seed: int
) -> str:
    """Supply the lenders' liquidity, then open every borrower's position; returns the lender."""
    await dep.impersonate_all()
    mc, erc20 = morpho_codec(), codec_of(npm_artifact("MintableERC20"))
    lender = lender_address(seed)
    await dep.set_balance(lender, GAS_ETH)
    for market in world.markets:
        borrowed = sum(b.borrow for b in borrowers if b.market == market.label)
        loan = market.params.loan_token
        supply = max(borrowed * BPS // TARGET_UTILISATION_BPS, 10 ** world_decimals(world, loan))
        await _mint_and_approve(dep, admin, lender, loan, supply, world.morpho, erc20)
        await dep.call_fn(
            lender, world.morpho, mc, "supply", market.params.as_tuple(), supply, 0, lender, b""
        )
    for b in borrowers:
        market = world.market(b.market)
        await open_borrower(dep, admin, world, market, b.address, b.collateral, b.borrow)
    return lender


def world_decimals(world: MorphoDeployment, token: str) -> int:
    """A devnet token's decimals."""
    return world.tokens[_symbol(world, token)].decimals


async def open_borrower(
    dep: Deployer,
    admin: str,
    world: MorphoDeployment,
    market: DevMarket,
    account: str,
    collateral: int,
    borrow: int,
) -> None:
    """Give ``account`` gas and collateral, supply it, and borrow ``borrow`` loan units."""
    mc, erc20 = morpho_codec(), codec_of(npm_artifact("MintableERC20"))
    await dep.set_balance(account, GAS_ETH)
    params = market.params.as_tuple()
    token = market.params.collateral_token
    await _mint_and_approve(dep, admin, account, token, collateral, world.morpho, erc20)
    await dep.call_fn(
        account, world.morpho, mc, "supplyCollateral", params, collateral, account, b""
    )
    if borrow > 0:
        await dep.call_fn(account, world.morpho, mc, "borrow", params, borrow, 0, account, account)


async def _mint_and_approve(
    dep: Deployer, admin: str, owner: str, token: str, amount: int, spender: str, erc20: Codec
) -> None:
    await dep.call_fn(admin, token, erc20, "mint(address,uint256)", owner, amount)
    await dep.call_fn(owner, token, erc20, "approve", spender, MAX_UINT256)
