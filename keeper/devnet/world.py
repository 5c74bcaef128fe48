"""A deployed devnet world: addresses as JSON, plus a fast Anvil state snapshot.

Two market versions: ``aave="3.6"`` (the default) builds Aave v3.6 from source
(keeper/devnet/aave_origin_market.py) with a fourth reserve, LINK, and a few special accounts
after the planned positions (LINK then gets LTV and LT 0, see governance.py); ``aave="3.0"``
deploys @aave/core-v3 1.19.3's bytecode (keeper/devnet/aave_market.py) with the three reserves
and the planned positions only. The
version is recorded for the devnet's own use; a keeper learns it from the chain
(``Pool.POOL_REVISION()``: 10 for v3.6, 1 for this v3.0).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from keeper.devnet.aave_market import AssetInfo, MarketAddresses, deploy_market
from keeper.devnet.aave_origin_market import deploy_origin_market
from keeper.devnet.borrowers import MarketActions, Position, plan_positions, special_positions
from keeper.devnet.deployer import Deployer
from keeper.devnet.governance import force_collateral_params
from keeper.devnet.market_spec import (
    DEFAULT_RESERVES,
    LT_ZERO_RESERVE,
    ORIGIN_EMODES,
    ORIGIN_RESERVES,
)
from keeper.devnet.uniswap import UniswapV3, deploy_uniswap
from keeper.errors import DevnetError
from keeper.localnode.anvil import CHAIN_ID, DEV_ACCOUNTS

if TYPE_CHECKING:
    from pathlib import Path

    from keeper.chain.client import ChainClient

ADMIN = DEV_ACCOUNTS[0]
LIQUIDITY_PROVIDER = DEV_ACCOUNTS[2]
AaveVersion = Literal["3.0", "3.6"]
AAVE_VERSIONS: tuple[AaveVersion, ...] = ("3.0", "3.6")


@dataclass
class World:
    """Everything a test or the demo needs to know about a deployed devnet."""

    chain_id: int
    admin: str
    liquidity_provider: str
    market: MarketAddresses
    seed: int
    borrowers: list[str] = field(default_factory=list)
    profiles: dict[str, str] = field(default_factory=dict)
    deploy_block: int = 0
    uniswap: UniswapV3 | None = None
    aave_version: AaveVersion = "3.6"
    keeper_liquidator: str = ""  # our contract, owned by the funded keeper ("": not deployed)

    def to_json(self) -> str:
        """The world as pretty JSON (addresses checksummed)."""
        return json.dumps(dataclasses.asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> World:
        """Inverse of :meth:`to_json`."""
        data: dict[str, Any] = json.loads(text)
        data.setdefault("aave_version", "3.0")  # written before v3.6 worlds existed
        uniswap = data.pop("uniswap", None)
        if uniswap is not None:
            data["uniswap"] = UniswapV3(**uniswap)
        market = dict(data.pop("market"))
        assets = {k: AssetInfo(**v) for k, v in market.pop("assets").items()}
        return cls(market=MarketAddresses(**market, assets=assets), **data)

    def asset(self, symbol: str) -> AssetInfo:
        """An asset by symbol (case-insensitive)."""
        for sym, info in self.market.assets.items():
            if sym.lower() == symbol.lower():
                return info
        raise KeyError(symbol)


async def build_world(
    client: ChainClient, borrowers: int = 60, seed: int = 7, aave: AaveVersion = "3.6"
) -> World:
    """Deploy the market, fund its liquidity and open ``borrowers`` planned positions.

    ``aave`` is "3.6" or "3.0". The planned positions are the same for the same seed on both; on
    v3.6 the special accounts follow, and LINK's LTV and LT are then set to 0 (bonus kept).
    """
    if aave not in AAVE_VERSIONS:
        raise DevnetError(f"unknown Aave version {aave!r}: use one of {', '.join(AAVE_VERSIONS)}")
    dep = Deployer(client)
    await dep.impersonate_all()
    reserves = ORIGIN_RESERVES if aave == "3.6" else DEFAULT_RESERVES
    if aave == "3.6":
        market = await deploy_origin_market(dep, ADMIN, reserves, ORIGIN_EMODES)
    else:
        market = await deploy_market(dep, ADMIN, reserves)
    uniswap = await deploy_uniswap(dep, ADMIN, market.assets, {s.symbol: s.price for s in reserves})
    actions = MarketActions(dep, market)
    for spec in reserves:
        await actions.supply(
            LIQUIDITY_PROVIDER, spec.symbol, spec.liquidity_whole_tokens * 10**spec.decimals
        )
    positions: list[Position] = plan_positions(borrowers, seed, DEFAULT_RESERVES)
    if aave == "3.6":
        positions += special_positions(reserves, ORIGIN_EMODES)
    for position in positions:
        await actions.open(position)
    if aave == "3.6":
        await force_collateral_params(client, market, LT_ZERO_RESERVE.symbol)
    head = await client.block_number()
    return World(
        chain_id=CHAIN_ID,
        admin=ADMIN,
        liquidity_provider=LIQUIDITY_PROVIDER,
        market=market,
        seed=seed,
        borrowers=[p.address for p in positions if p.borrows],
        profiles={p.address: p.profile for p in positions},
        deploy_block=head,
        uniswap=uniswap,
        aave_version=aave,
    )


async def dump_state(client: ChainClient, path: Path) -> None:
    """Save the chain state (gzipped JSON, as Anvil returns it) for a fast reload."""
    hex_state = await client.request("anvil_dumpState")
    await asyncio.to_thread(path.write_bytes, bytes.fromhex(hex_state.removeprefix("0x")))


async def load_state(client: ChainClient, path: Path) -> None:
    """Load a state saved by :func:`dump_state` into a fresh Anvil."""
    data = await asyncio.to_thread(path.read_bytes)
    await client.request("anvil_loadState", ["0x" + data.hex()], retry=False)


def state_is_gzip(path: Path) -> bool:
    """True for a state file written by :func:`dump_state`."""
    with path.open("rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


__all__ = ["World", "build_world", "dump_state", "load_state"]
