"""Checkpoint files, the Aave payload, and when the checkpointer writes (no node needed)."""

from __future__ import annotations

import asyncio
import os
import random
import threading
from dataclasses import dataclass, field

import pytest

from keeper.core.checkpoint import (
    CheckpointRejectedError,
    CheckpointWriteError,
    DiscardReason,
    MarketCheckpoint,
    MarketIdentity,
)
from keeper.errors import ConfigError
from keeper.loop.checkpoints import Checkpointer
from keeper.ops.checkpoint_store import FileCheckpointStore, decode_file, encode_file
from keeper.ops.metrics import Metrics
from keeper.protocols.aave_v3 import checkpoint as aave
from keeper.protocols.aave_v3.state import AccountState, StableDebt
from tests.support.fake_market import FakeMarket, QuietNode, offline_settings

KEY = "0x" + "ab" * 32
IDENTITY = MarketIdentity(31337, "aave_v3", "0x" + "fa" * 20)


def _checkpoint(payload: bytes = b"state\n", block: int = 7) -> MarketCheckpoint:
    return MarketCheckpoint(IDENTITY, block, "0x" + "11" * 32, 1_700_000_000, 1, payload, 12.5)


def _accounts() -> dict[str, AccountState]:
    return {
        "0xA1": AccountState(
            "0xA1",
            user_config=(1 << 255) | 0b1011,
            emode=1,
            scaled_collateral={0: 10**30, 1: 1},
            scaled_variable_debt={1: 2**200},
            stable_debt={2: StableDebt(5 * 10**20, 3 * 10**25, 1_700_000_001)},
            block=40,
        ),
        "0xB2": AccountState("0xB2", block=41),
    }


def _tracked() -> aave.TrackedAccounts:
    return aave.TrackedAccounts(
        start_block=3,
        pool_version="3.6",
        first_seen={"0xA1": 4, "0xB2": 9, "0xC3": 41},
        accounts=_accounts(),
        dirty=frozenset({"0xC3"}),
        touched={41: frozenset({"0xB2", "0xC3"})},
    )


@pytest.mark.asyncio
async def test_a_checkpoint_file_round_trips_and_leaves_no_temporary_file(tmp_path):
    """A saved checkpoint loads back equal, replacing the previous one, with nothing else left
    in the directory; no file at all loads as None (a first start), not as an error.
    """
    store = FileCheckpointStore(str(tmp_path / "checkpoint"))
    assert await store.load() is None
    await store.save(_checkpoint(b"old\n", block=6))
    size = await store.save(_checkpoint())
    assert await store.load() == _checkpoint()
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint"]
    assert size == (tmp_path / "checkpoint").stat().st_size


@pytest.mark.asyncio
async def test_a_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    """When the disk fails mid-write (fsync raising, a test double of a full disk), the save
    raises CheckpointWriteError, the previous checkpoint is still whole, and the temporary file
    is removed.
    """
    store = FileCheckpointStore(str(tmp_path / "checkpoint"))
    await store.save(_checkpoint(b"previous\n"))

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(CheckpointWriteError, match="No space left"):
        await store.save(_checkpoint(b"new\n"))
    monkeypatch.undo()
    assert (await store.load()) == _checkpoint(b"previous\n")
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint"]


def test_every_truncation_and_garbling_of_a_file_is_rejected_as_corrupt():
    """Every prefix of a checkpoint file, and 300 random byte changes, is rejected with a
    CheckpointRejectedError (corrupt, or an unknown format when the change hit the version),
    never another exception and never a wrong checkpoint.
    """
    good = encode_file(_checkpoint(b"x" * 300))
    for end in range(len(good)):
        with pytest.raises(CheckpointRejectedError) as cut:
            decode_file(good[:end])
        assert cut.value.reason is DiscardReason.CORRUPT
    rng = random.Random(5)
    for _ in range(300):
        data = bytearray(good)
        at = rng.randrange(len(data))
        data[at] = (data[at] + rng.randrange(1, 256)) % 256
        reason = None
        try:
            decoded = decode_file(bytes(data))
        except CheckpointRejectedError as exc:
            reason = exc.reason
        else:  # a change in a number of the header that still parses, e.g. the block
            assert decoded.payload == b"x" * 300
        assert reason in (None, DiscardReason.CORRUPT, DiscardReason.FORMAT_VERSION)


def test_the_aave_payload_round_trips_every_field_exactly():
    """Accounts with 256-bit values, eMode, stable debt and never-read accounts, the accounts
    still to re-read and the recent blocks' touched accounts decode to what was encoded.
    """
    tracked = _tracked()
    snapshot = aave.AaveSnapshot(41, "0x" + "22" * 32, 1_700_000_009, tracked)
    back = aave.decode(snapshot.encode())
    assert back == tracked


@pytest.mark.parametrize(
    "payload",
    [b"", b"\xff\xfe", b"{}\n", b"null\n", b'{"start_block": 1}\n', b"[1, 2]\n"],
)
def test_a_garbled_aave_payload_is_rejected_as_corrupt(payload):
    """A payload that is not the format (empty, not UTF-8, missing fields) is corrupt."""
    with pytest.raises(CheckpointRejectedError) as bad:
        aave.decode(payload)
    assert bad.value.reason is DiscardReason.CORRUPT


def test_a_checkpoint_in_a_missing_directory_is_a_config_error_naming_the_key(tmp_path):
    """checkpoint_path in a directory that does not exist: a ConfigError naming the key."""
    with pytest.raises(ConfigError, match=r"checkpoint_path: directory .* does not exist"):
        FileCheckpointStore(str(tmp_path / "no-volume" / "checkpoint"))


@dataclass
class _Snapshot:
    """A test double of a market's snapshot whose encoding waits until the test lets it."""

    block: int
    release: threading.Event
    block_hash: str = "0x" + "33" * 32
    timestamp: int = 1_700_000_000
    version: int = 1
    encoded: list[int] = field(default_factory=list)

    def encode(self) -> bytes:
        if not self.release.wait(30):
            raise TimeoutError("the test never released the encoding")
        self.encoded.append(self.block)
        return b"payload\n"


@dataclass
class _Market(FakeMarket):
    """The fake market (tests/support) with a state to snapshot at its head."""

    release: threading.Event = field(default_factory=threading.Event)

    def snapshot(self) -> _Snapshot:  # type: ignore[override]  # a double's own snapshot type
        return _Snapshot(self.head, self.release)


@pytest.mark.asyncio
async def test_writes_are_due_by_blocks_never_block_a_block_and_a_stop_writes_the_last(
    tmp_path,
):
    """With a checkpoint every 3 blocks: the first block writes, while that write is still
    encoding the following blocks return at once without starting another, a block 3 after
    the last write starts the next, and a clean stop waits for it and then writes the last
    block's state; a stop with nothing new writes nothing more.
    """
    settings = offline_settings(
        tmp_path,
        KEY,
        checkpoint_path=str(tmp_path / "checkpoint"),
        checkpoint_interval_blocks=3,
        checkpoint_interval_s=3600,
    )
    market = _Market()
    store = FileCheckpointStore(str(tmp_path / "checkpoint"))
    no_node = QuietNode()  # tests/support: a node that is never asked for blocks here
    checkpoints = Checkpointer(
        settings, no_node, (31337, market), (store, store), Metrics().checkpoints
    )
    for block in (100, 101, 102):
        market.head = block
        checkpoints.after_block(block)  # returns while the first write is held
        await asyncio.sleep(0)
    assert checkpoints.written_block == 100
    market.release.set()
    await asyncio.sleep(0.2)
    market.head = 103
    checkpoints.after_block(103)
    market.head = 104
    checkpoints.after_block(104)  # not due: 1 block after the write at 103
    await checkpoints.close()
    saved = await store.load()
    assert saved is not None and saved.block == 104
    assert checkpoints.written_block == 104
    await checkpoints.close()
    saved_again = await store.load()
    assert saved_again is not None and saved_again.written_at == saved.written_at
