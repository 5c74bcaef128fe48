"""``keeper devnet up``: a devnet that stays up until Ctrl-C or SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any, Literal

import structlog

from keeper.chain.client import ChainClient
from keeper.devnet.artifacts import npm_artifact
from keeper.devnet.deployer import codec_of
from keeper.devnet.liquidator import deploy_keeper_liquidator
from keeper.devnet.scenarios import fund_keeper
from keeper.devnet.up_morpho import morpho_info, prepare_morpho
from keeper.devnet.world import World, build_world, dump_state
from keeper.localnode.anvil import DEV_ACCOUNTS, DEV_KEYS, Anvil, AnvilOptions

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from types import FrameType

    from keeper.devnet.world import AaveVersion


log = structlog.get_logger(__name__)
Protocol = Literal["aave_v3", "morpho_blue"]
BID_FLOAT_WEI = 10**18  # ether the devnet keeper's contract holds for coinbase bids


async def _prepare(
    url: str, borrowers: int, seed: int, snapshot: Path | None, fund: str, aave: AaveVersion
) -> World:
    async with ChainClient(url) as client:
        world = await build_world(client, borrowers=borrowers, seed=seed, aave=aave)
        await fund_keeper(client, world.market, fund)
        # The keeper's first transaction: at the same address on every fresh devnet
        # (config/devnet.toml names it).
        world.keeper_liquidator = await deploy_keeper_liquidator(
            client, world, fund, fund_wei=BID_FLOAT_WEI
        )
        if snapshot is not None:
            await asyncio.to_thread((snapshot / "world.json").write_text, world.to_json())
            await dump_state(client, snapshot / "state.gz")
        return world


async def _pool_revision(url: str, pool: str) -> int:
    """``Pool.POOL_REVISION()``: 1 on the v3.0 devnet, 10 on v3.6 (same signature in both)."""
    codec = codec_of(npm_artifact("Pool"))
    async with ChainClient(url) as client:
        (revision,) = codec.decode(
            "POOL_REVISION", await client.call(pool, codec.encode("POOL_REVISION"))
        )
    return int(revision)


def devnet_up(
    *,
    borrowers: int,
    seed: int,
    port: int,
    block_time: float | None,
    snapshot: Path | None,
    fund: str | None,
    show: Callable[[dict[str, Any]], None],
    aave: AaveVersion = "3.6",
    protocol: Protocol = "aave_v3",
) -> int:
    """Start Anvil, deploy (or reload) the world, ``show`` its addresses, wait for a signal.

    ``aave`` picks the market version of a new world; a reloaded snapshot keeps its own.
    ``protocol = "morpho_blue"``: the Morpho Blue world instead (without a snapshot: exit 2).
    """
    if protocol == "morpho_blue" and snapshot is not None:
        sys.stderr.write("devnet up: --snapshot is for the Aave devnet; drop it with morpho_blue\n")
        return 2
    state = snapshot / "state.gz" if snapshot is not None else None
    options = AnvilOptions(
        block_time=block_time,
        port=port or None,
        load_state=state if state is not None and state.is_file() else None,
    )
    done = threading.Event()

    def on_signal(_sig: int, _frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with Anvil(options) as anvil:
        saved = snapshot / "world.json" if snapshot is not None else None
        if protocol == "morpho_blue":
            who = fund or DEV_ACCOUNTS[1]
            morpho = asyncio.run(prepare_morpho(anvil.url, borrowers, seed, who))
            show(morpho_info(anvil.url, morpho, who, default_fund=fund is None))
            return _serve(anvil, done)
        if saved is not None and saved.is_file():
            world = World.from_json(saved.read_text())
            if world.aave_version != aave:
                log.warning("snapshot_version_kept", snapshot=world.aave_version, requested=aave)
        else:
            if snapshot is not None:
                snapshot.mkdir(parents=True, exist_ok=True)
            world = asyncio.run(
                _prepare(anvil.url, borrowers, seed, snapshot, fund or DEV_ACCOUNTS[1], aave)
            )
        show(
            {
                "rpc_url": anvil.url,
                "chain_id": world.chain_id,
                "aave_version": world.aave_version,
                "pool_revision": asyncio.run(_pool_revision(anvil.url, world.market.pool)),
                "pool_addresses_provider": world.market.pool_addresses_provider,
                "pool": world.market.pool,
                "oracle": world.market.oracle,
                "data_provider": world.market.data_provider,
                "liquidation_data_provider": world.market.liquidation_data_provider or None,
                "assets": {
                    s: {"address": a.address, "decimals": a.decimals, "feed": a.feed}
                    for s, a in world.market.assets.items()
                },
                "uniswap_v3": None
                if world.uniswap is None
                else {
                    "factory": world.uniswap.factory,
                    "router": world.uniswap.router,
                    "quoter": world.uniswap.quoter,
                    "pools": world.uniswap.pools,
                },
                "borrowers": len(world.borrowers),
                "funded_keeper": fund or DEV_ACCOUNTS[1],
                "flash_liquidator": world.keeper_liquidator or None,
                "funded_keeper_key": None if fund else DEV_KEYS[1],
            }
        )
        return _serve(anvil, done)


def _serve(anvil: Anvil, done: threading.Event) -> int:
    """Keep the devnet up until ``done`` (a signal); 1 if Anvil exits first."""
    log.info("devnet_up", rpc_url=anvil.url, stop="Ctrl-C or SIGTERM")
    while not done.wait(0.5):
        if not anvil.running:
            log.error("anvil_exited", rpc_url=anvil.url)
            return 1
    return 0
