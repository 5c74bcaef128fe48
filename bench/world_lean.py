"""A cached world without its history, and the keepers' warm start on it (the race at 100k).

Anvil's ``--dump-state`` holds the accounts (code, balances, storage) and the chain's history:
every block with its transactions, and every transaction with its receipt and call trace.
Loaded, the history is what fills Anvil's memory (``bench/RESULTS.md``, section "Race at 100k
accounts"). :func:`lean_state` writes the same state without it: the accounts, the block
environment, and only the best block (Anvil starts on top of its hash, number, timestamp and
base fee); the older blocks, all the transactions and their receipts (hence their logs) are
left out. It streams the dump (a few GB unpacked) and never holds it whole.

Without the logs, nobody can find the accounts from the Pool's events since block 0. Both
keepers start warm instead, as after a restart: the harness's own monitor reads every account
of the world's list at the head (``list_checkpoint``: the accounts' addresses, no state), and
its full state is written as our keeper's checkpoint (``write_checkpoint``: the envelope our
keeper reads from ``checkpoint_source``, then only the logs since its block); the baseline bot
gets the list of borrowers (``--borrowers``) and reads the Borrow events from that block on.

The blocks come from :class:`Miner` (``evm_mine`` from a process of its own), not from Anvil's
interval mining: with a block time of 2 s or less Anvil raises the number of states it keeps in
memory to 1,500 whatever ``--prune-history`` says, and each state of this world is about
110 MB (measured here: Anvil with the 100k world, 474 MB loaded, then 2.3 GB after 20 blocks
and flat with ``evm_mine``; 3.6 GB after 20 blocks and growing by a state a block with
``evm_setIntervalMining 1``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import re
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, Self

from keeper.core.checkpoint import MarketCheckpoint, MarketIdentity
from keeper.localnode.anvil import CHAIN_ID
from keeper.ops.checkpoint_store import FileCheckpointStore
from keeper.protocols.aave_v3.checkpoint import AaveSnapshot, TrackedAccounts

if TYPE_CHECKING:
    from types import TracebackType

    from keeper.chain.client import ChainClient
    from keeper.devnet.world import World
    from keeper.localnode.anvil import Anvil

CHUNK = 16 << 20
BEST = b',"best_block_number":'
BLOCKS = b',"blocks":['
BLOCK = b',{"header":'
TRANSACTIONS = b'],"transactions":['
AFTER_TRANSACTIONS = b'],"historical_states":'
NUMBER = re.compile(rb'"number":"0x([0-9a-f]+)"')


class _Source(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _Sink(Protocol):
    def write(self, data: bytes, /) -> int: ...


class _Reader:
    """A gzip stream read up to markers, with what was read past them kept."""

    def __init__(self, src: _Source) -> None:
        self.src, self.buf, self.eof = src, b"", False

    def _more(self) -> None:
        data = self.src.read(CHUNK)
        self.eof = not data
        self.buf += data

    def until(self, marker: bytes, sink: _Sink | None) -> None:
        """Pass everything before ``marker`` to ``sink`` (None: drop it); consume the marker."""
        while (i := self.buf.find(marker)) < 0:
            cut = max(0, len(self.buf) - len(marker) + 1)  # a marker may start in the rest
            if sink is not None:
                sink.write(self.buf[:cut])
            self.buf = self.buf[cut:]
            self._more()
            if self.eof:
                raise ValueError(f"state dump ends before {marker!r}")
        if sink is not None:
            sink.write(self.buf[:i])
        self.buf = self.buf[i + len(marker) :]

    def blocks(self) -> list[bytes]:
        """Each block's JSON up to the end of the ``blocks`` array (consumed)."""
        out: list[bytes] = []
        start = 0  # the current block's first byte in buf
        while True:
            end = self.buf.find(TRANSACTIONS, start)
            cut = self.buf.find(BLOCK, start)
            if cut >= 0 and (end < 0 or cut < end):
                out.append(self.buf[start:cut])
                start = cut + 1
                continue
            if end >= 0:
                out.append(self.buf[start:end])
                self.buf = self.buf[end + len(TRANSACTIONS) :]
                return out
            self.buf = self.buf[start:]
            start = 0
            self._more()
            if self.eof:
                raise ValueError("state dump ends inside its blocks")


@dataclass(frozen=True)
class Lean:
    """A history-free state next to its full dump."""

    path: Path
    full_bytes: int
    lean_bytes: int
    made_s: float  # 0.0: from the cache


def lean_path(full: Path) -> Path:
    """Where the history-free copy of a cached state lives."""
    return full.with_name(full.name.replace(".state.gz", ".lean.state.gz"))


def cached(full: Path) -> Lean:
    """The history-free copy of ``full``, written first if missing."""
    path = lean_path(full)
    made_s = 0.0
    if not path.is_file() or path.stat().st_mtime < full.stat().st_mtime:
        t0 = time.perf_counter()
        lean_state(full, path)
        made_s = round(time.perf_counter() - t0, 1)
    return Lean(path, full.stat().st_size, path.stat().st_size, made_s)


def lean_state(src: Path, dst: Path) -> dict[str, int]:
    """Write ``src`` (a gzipped Anvil state) to ``dst`` without its history; the sizes."""
    tmp = dst.with_suffix(".tmp")
    with gzip.open(src, "rb") as raw, gzip.open(tmp, "wb", compresslevel=3) as out:
        reader = _Reader(raw)
        reader.until(BEST, out)  # the block environment and every account
        number = _read_until(reader, BLOCKS)
        best = int(number)
        out.write(BEST + number + BLOCKS)
        blocks = reader.blocks()
        kept = [b for b in blocks if _number(b) == best]
        if len(kept) != 1:
            raise ValueError(f"state dump: {len(kept)} blocks numbered {best}")
        out.write(kept[0] + b'],"transactions":[')
        reader.until(AFTER_TRANSACTIONS, None)  # every transaction, receipt and trace
        out.write(AFTER_TRANSACTIONS)
        while True:
            out.write(reader.buf)
            reader.buf = b""
            reader._more()  # noqa: SLF001 - the tail (historical_states), a few bytes
            if reader.eof:
                break
    tmp.replace(dst)
    return {"blocks": len(blocks), "best_block": best, "lean_bytes": dst.stat().st_size}


def _read_until(reader: _Reader, marker: bytes) -> bytes:
    while (i := reader.buf.find(marker)) < 0:
        reader._more()  # noqa: SLF001
        if reader.eof:
            raise ValueError(f"state dump ends before {marker!r}")
    value, reader.buf = reader.buf[:i], reader.buf[i + len(marker) :]
    return value.strip()


def _number(block: bytes) -> int:
    found = NUMBER.search(block)
    if found is None:
        raise ValueError("a block without a number in the state dump")
    return int(found.group(1), 16)


def list_checkpoint(world: World, pool_version: str, at: tuple[int, str, int]) -> MarketCheckpoint:
    """Every account of the world (borrowers and suppliers) at ``at``, none read yet.

    ``at``: (number, hash, timestamp) of the block; the accounts' states are read on restore.
    """
    first_seen = dict.fromkeys(world.profiles, world.deploy_block)
    tracked = TrackedAccounts(0, pool_version, first_seen, {})
    return _envelope(world, AaveSnapshot(*at, tracked))


def _envelope(world: World, snap: AaveSnapshot) -> MarketCheckpoint:
    identity = MarketIdentity(CHAIN_ID, "aave_v3", world.market.pool.lower())
    return MarketCheckpoint(
        identity, snap.block, snap.block_hash, snap.timestamp, snap.version, snap.encode()
    )


async def write_checkpoint(world: World, snap: AaveSnapshot, path: Path) -> int:
    """Our keeper's checkpoint file from the harness's monitor; the bytes written."""
    return await FileCheckpointStore(str(path)).save(_envelope(world, snap))


async def head(client: ChainClient) -> tuple[int, str, int]:
    """(number, hash, timestamp) of the latest block."""
    block = await client.request("eth_getBlockByNumber", ["latest", False])
    return int(block["number"], 16), str(block["hash"]), int(block["timestamp"], 16)


@dataclass
class AnvilMemory:
    """Anvil's resident memory (MB) at named moments, and its peak (the kernel's high mark)."""

    pid: int
    samples: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, anvil: Anvil) -> AnvilMemory:
        """The memory of a running Anvil."""
        proc = anvil._proc  # noqa: SLF001 - its process id, read from /proc only
        if proc is None:
            raise RuntimeError("Anvil is not running")
        return cls(proc.pid)

    def _status(self, key: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) // 1024  # kB
        return 0

    def sample(self, label: str) -> None:
        """Record the resident memory now under ``label``, and the peak so far."""
        self.samples[label] = self._status("VmRSS")
        self.samples["peak"] = self._status("VmHWM")

    def figures(self) -> dict[str, int]:
        """The samples and the peak at the last one."""
        return dict(self.samples)


class Miner:
    """Blocks by ``evm_mine`` from a process of its own once :meth:`start` is called.

    Its own process: the harness's CPU-bound steps (its engine choosing each shock) would
    otherwise hold the event loop, and no block would come meanwhile. Each ``evm_mine``'s
    time is kept (:meth:`mine_ms`); the process stops on exit.
    """

    def __init__(self, client: ChainClient, url: str, log: Path) -> None:
        self.client, self.url, self.log = client, url, log
        self._proc: subprocess.Popen[bytes] | None = None

    async def start(self, interval_s: float) -> None:
        """Automine off, then a block every ``interval_s`` (a late one does not shift the next)."""
        await self.client.request("evm_setAutomine", [False])
        with self.log.open("wb") as out:
            self._proc = subprocess.Popen(  # noqa: ASYNC220 - started once, not waited on
                [sys.executable, str(Path(__file__)), self.url, str(interval_s)],
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def mine_ms(self) -> list[float]:
        """How long each ``evm_mine`` took so far (ms)."""
        if not self.log.is_file():
            return []
        return [float(x) for x in self.log.read_text().split() if x.replace(".", "", 1).isdigit()]

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._proc is not None:
            self._proc.terminate()
            await asyncio.to_thread(self._proc.wait, 10)


def mine_forever(url: str, interval_s: float) -> None:
    """``evm_mine`` every ``interval_s`` until killed; each one's time (ms) on a line."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "evm_mine", "params": []}).encode()
    next_at = time.monotonic()
    while True:
        next_at = max(next_at + interval_s, time.monotonic())
        started = time.perf_counter()
        request = urllib.request.Request(  # noqa: S310 - a local devnet URL, http only
            url, body, {"Content-Type": "application/json"}
        )
        with contextlib.suppress(OSError), urllib.request.urlopen(request, timeout=60):  # noqa: S310
            print(round((time.perf_counter() - started) * 1000, 1), flush=True)
        time.sleep(max(0.0, next_at - time.monotonic()))


if __name__ == "__main__":
    mine_forever(sys.argv[1], float(sys.argv[2]))
