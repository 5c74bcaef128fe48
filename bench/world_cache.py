"""Devnet worlds of N borrowers for the race, built once and cached under bench/.cache/.

``build_world`` opens positions one transaction at a time on an automining chain (about 4 s per
200 borrowers). For 10,000 borrowers this module deploys the market with ``build_world`` and no
borrowers, then opens the same planned positions (``plan_positions``, same seed) with automine
off: every borrower's transactions are sent in JSON-RPC batches (each borrower is its own sender,
so its nonces keep mint -> approve -> supply -> borrow in order), mined in a few large blocks,
and every receipt is checked. Both keepers' accounts are funded the same way
(``fund_keeper``), then the state is dumped and reloaded later in a fraction of a second. The
dump is Anvil's own ``--dump-state`` on exit: ``anvil_dumpState`` over HTTP drops the
connection for a world of 100,000 borrowers (an answer of hundreds of MB).

A large world (``LARGE``: 50,000 borrowers and more) is built without keeping its history:
Anvil holds only a few recent states (``--prune-history``) and the transactions of the last
few blocks (``--transaction-block-keeper``; older blocks keep their headers). Holding all of it
took Anvil past 8.6 GB five minutes into a build of 100,000 (every block's state, every
transaction's receipt and trace); the race then starts both keepers warm, not from the Pool's
events since block 0 (``bench/world_lean.py``).

    python bench/world_cache.py 10000     # builds (or finds) the snapshot, prints its paths
"""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eth_account import Account

from keeper.chain.abi import Codec
from keeper.chain.client import ChainClient
from keeper.devnet.artifacts import npm_artifact
from keeper.devnet.borrowers import GAS_ETH, Position, plan_positions
from keeper.devnet.deployer import codec_of
from keeper.devnet.market_spec import DEFAULT_RESERVES
from keeper.devnet.scenarios import fund_keeper
from keeper.devnet.world import AaveVersion, World, build_world
from keeper.errors import DevnetError, RpcError
from keeper.localnode.anvil import DEV_ACCOUNTS, DEV_KEYS, Anvil, AnvilOptions
from keeper.protocols.aave_v3.market import POOL

CACHE = Path(__file__).resolve().parent / ".cache"
SEED = 5
AAVE: AaveVersion = "3.6"  # the version live markets run; the cache key names it
# Our keeper: Anvil's public test key 1. The baseline: a fixed bench-only key (public, devnet).
OURS_ADDRESS, OURS_KEY = DEV_ACCOUNTS[1], DEV_KEYS[1]
BASELINE_KEY = "0x" + "b5" * 32
BASELINE_ADDRESS = str(Account.from_key(BASELINE_KEY).address)
TX_GAS = 1_500_000
BUILD_GAS_LIMIT = 2_000_000_000  # a few huge blocks while building; restored afterwards
NORMAL_GAS_LIMIT = 30_000_000
CHUNK = 1_000  # borrowers sent before mining
LARGE = 50_000  # borrowers from which the build keeps no history
LARGE_STATES = 4  # recent states Anvil keeps while building a large world
LARGE_TX_BLOCKS = 8  # recent blocks whose transactions it keeps
BATCH = 500  # requests per JSON-RPC batch


@dataclass(frozen=True)
class Snapshot:
    """A cached world: its addresses and its Anvil state."""

    world: World
    state: Path
    build_s: float  # 0.0 when it came from the cache


def paths(borrowers: int) -> tuple[Path, Path]:
    """The world JSON and the state file of a cached world of this size."""
    stem = f"world-{borrowers}-seed{SEED}-aave{AAVE}"
    return CACHE / f"{stem}.json", CACHE / f"{stem}.state.gz"


def _position_txs(
    position: Position, world: World, token: Codec, pool: Codec
) -> list[dict[str, Any]]:
    """The transactions that open one planned position, in nonce order."""
    who = position.address
    market = world.market
    txs: list[tuple[str, str]] = []
    for symbol, amount in position.supplies:
        asset = market.assets[symbol].address
        txs.append((asset, token.encode("mint(address,uint256)", who, amount)))
        txs.append((asset, token.encode("approve", market.pool, amount)))
        txs.append((market.pool, pool.encode("supply", asset, amount, who, 0)))
    for symbol, amount in position.borrows:
        if amount > 0:
            asset = market.assets[symbol].address
            txs.append((market.pool, pool.encode("borrow", asset, amount, 2, 0, who)))
    # Fresh addresses: nonces from 0, explicit (a batch is not processed in order).
    return [
        {"from": who, "to": to, "data": data, "gas": hex(TX_GAS), "nonce": hex(k)}
        for k, (to, data) in enumerate(txs)
    ]


async def _batched(client: ChainClient, calls: list[tuple[str, list[Any]]]) -> list[Any]:
    out: list[Any] = []
    for start in range(0, len(calls), BATCH):
        out.extend(await client.batch(calls[start : start + BATCH]))
    return out


async def _open_fast(client: ChainClient, world: World, positions: list[Position]) -> None:
    """Open every position with automine off; raise DevnetError on any failed transaction."""
    token = codec_of(npm_artifact("MintableERC20"))
    pool = Codec.named("aave_v3/IPool")
    await client.request("evm_setAutomine", [False])
    await client.request("evm_setBlockGasLimit", [hex(BUILD_GAS_LIMIT)])
    try:
        for start in range(0, len(positions), CHUNK):
            chunk = positions[start : start + CHUNK]
            await _batched(client, [("anvil_setBalance", [p.address, hex(GAS_ETH)]) for p in chunk])
            txs = [tx for p in chunk for tx in _position_txs(p, world, token, pool)]
            hashes = await _batched(client, [("eth_sendTransaction", [tx]) for tx in txs])
            refused = [h for h in hashes if isinstance(h, RpcError)]
            if refused:
                raise DevnetError(f"{len(refused)} borrower transactions refused: {refused[0]}")
            for _ in range(100):
                await client.request("evm_mine", [])
                status = await client.request("txpool_status")
                if int(status["pending"], 16) == 0 and int(status["queued"], 16) == 0:
                    break
            # Checked by state, not receipts: Anvil answers receipts of blocks of thousands of
            # transactions very slowly. Every account must hold its collateral and its debt.
            await _check_opened(client, world, chunk)
    finally:
        await client.request("evm_setBlockGasLimit", [hex(NORMAL_GAS_LIMIT)])
        await client.request("evm_setAutomine", [True])


async def _check_opened(client: ChainClient, world: World, chunk: list[Position]) -> None:
    pool = world.market.pool
    calls: list[tuple[str, list[Any]]] = [
        ("eth_call", [{"to": pool, "data": POOL.encode("getUserAccountData", p.address)}, "latest"])
        for p in chunk
    ]
    for position, raw in zip(chunk, await _batched(client, calls), strict=True):
        if isinstance(raw, RpcError):
            raise DevnetError(f"borrower {position.address}: {raw}")
        collateral, debt = POOL.decode("getUserAccountData", bytes.fromhex(raw[2:]))[:2]
        borrows = any(amount > 0 for _, amount in position.borrows)
        if collateral == 0 or (debt > 0) != borrows:
            raise DevnetError(f"borrower {position.address} was not opened as planned")


async def build(url: str, borrowers: int) -> World:
    """Deploy the market, open ``borrowers`` positions fast, fund both keepers."""
    async with ChainClient(url, timeout_s=max(120.0, borrowers / 50)) as client:
        world = await build_world(client, borrowers=0, seed=SEED, aave=AAVE)
        positions = plan_positions(borrowers, SEED, DEFAULT_RESERVES)
        await _open_fast(client, world, positions)
        await fund_keeper(client, world.market, OURS_ADDRESS)
        await fund_keeper(client, world.market, BASELINE_ADDRESS)
        return dataclasses.replace(
            world,
            borrowers=[p.address for p in positions if p.borrows],
            profiles={p.address: p.profile for p in positions},
            deploy_block=await client.block_number(),
        )


def snapshot(borrowers: int) -> Snapshot:
    """The cached world of this size, built first if missing."""
    world_file, state = paths(borrowers)
    if world_file.is_file() and state.is_file():
        return Snapshot(World.from_json(world_file.read_text()), state, 0.0)
    CACHE.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        dump = Path(tmp) / "state.json"
        # Anvil writes the whole state when it stops: minutes for 100k borrowers.
        large = borrowers >= LARGE
        keep = ["--transaction-block-keeper", str(LARGE_TX_BLOCKS)] if large else []
        options = AnvilOptions(
            extra_args=["--dump-state", str(dump), *keep],
            stop_timeout_s=900,
            prune_history=LARGE_STATES if large else None,
        )
        with Anvil(options) as anvil:
            world = asyncio.run(build(anvil.url, borrowers))
        if not dump.is_file():
            raise DevnetError(f"Anvil wrote no state dump for {borrowers} borrowers")
        with dump.open("rb") as src, gzip.open(state, "wb", compresslevel=3) as out:
            shutil.copyfileobj(src, out, 1 << 20)
    world_file.write_text(world.to_json())
    return Snapshot(world, state, round(time.perf_counter() - t0, 1))


if __name__ == "__main__":
    snap = snapshot(int(sys.argv[1]))
    print(
        json.dumps(
            {
                "borrowers": len(snap.world.borrowers),
                "state": str(snap.state),
                "build_s": snap.build_s,
            }
        )
    )
