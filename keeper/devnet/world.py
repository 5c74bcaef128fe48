"""A deployed devnet world: addresses as JSON, plus a fast Anvil state snapshot."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from keeper.devnet.aave_market import AssetInfo, MarketAddresses, deploy_market
from keeper.devnet.anvil import CHAIN_ID, DEV_ACCOUNTS
from keeper.devnet.borrowers import MarketActions, Position, plan_positions
from keeper.devnet.deployer import Deployer
from keeper.devnet.market_spec import DEFAULT_RESERVES
from keeper.devnet.uniswap import UniswapV3, deploy_uniswap

if TYPE_CHECKING:
    from pathlib import Path

    from keeper.chain.client import ChainClient

ADMIN = DEV_ACCOUNTS[0]
LIQUIDITY_PROVIDER = DEV_ACCOUNTS[2]


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

    def to_json(self) -> str:
        """The world as pretty JSON (addresses checksummed)."""
        return json.dumps(dataclasses.asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> World:
        """Inverse of :meth:`to_json`."""
        data: dict[str, Any] = json.loads(text)
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


async def build_world(client: ChainClient, borrowers: int = 60, seed: int = 7) -> World:
    """Deploy the market, fund its liquidity and open ``borrowers`` planned positions."""
    dep = Deployer(client)
    await dep.impersonate_all()
    market = await deploy_market(dep, ADMIN, DEFAULT_RESERVES)
    uniswap = await deploy_uniswap(
        dep, ADMIN, market, {s.symbol: s.price for s in DEFAULT_RESERVES}
    )
    actions = MarketActions(dep, market)
    for spec in DEFAULT_RESERVES:
        await actions.supply(
            LIQUIDITY_PROVIDER, spec.symbol, spec.liquidity_whole_tokens * 10**spec.decimals
        )
    positions: list[Position] = plan_positions(borrowers, seed, DEFAULT_RESERVES)
    for position in positions:
        await actions.open(position)
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
