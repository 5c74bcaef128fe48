"""The race's history-free state (bench/world_lean.py): an Anvil dump without its history.

The accounts and the block environment are kept byte for byte, only the best block of the
unordered ``blocks`` is kept, every transaction is dropped, and the tail after them stays; a
read cut anywhere (markers across chunk boundaries) gives the same file.
"""

from __future__ import annotations

import gzip
import json
from typing import TYPE_CHECKING, Any

import pytest

from bench import world_lean

if TYPE_CHECKING:
    from pathlib import Path


def _block(number: int, txs: int) -> dict[str, Any]:
    header = {"parentHash": "0x" + "11" * 32, "number": hex(number), "gasUsed": "0x0"}
    return {
        "header": header,
        "transactions": [{"hash": "0x" + f"{k:064x}", "input": "0x00"} for k in range(txs)],
        "ommers": [],
        "withdrawals": [],
    }


def _dump() -> dict[str, Any]:
    return {
        "block": {"number": "0x7", "timestamp": "0x10", "basefee": 7},
        "accounts": {
            "0x" + "aa" * 20: {"nonce": 1, "balance": "0x5", "code": "0x", "storage": {}},
            "0x" + "bb" * 20: {
                "nonce": 0,
                "balance": "0x0",
                "code": "0x60",
                "storage": {"0x1": "0x2"},
            },
        },
        "best_block_number": 7,
        "blocks": [_block(3, 2), _block(7, 1), _block(0, 0), _block(5, 40)],
        "transactions": [
            {"info": {"transaction_hash": "0x" + f"{k:064x}"}, "receipt": {}, "block_number": 3}
            for k in range(50)
        ],
        "historical_states": None,
    }


def _write(path: Path, value: dict[str, Any]) -> None:
    with gzip.open(path, "wb") as out:
        out.write(json.dumps(value, separators=(",", ":")).encode())


@pytest.mark.parametrize("chunk", [7, 64, 1 << 20])
def test_only_accounts_and_the_best_block_remain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """The lean state has the same accounts and block environment, one block, no transactions."""
    monkeypatch.setattr(world_lean, "CHUNK", chunk)
    dump = _dump()
    src, dst = tmp_path / "full.state.gz", tmp_path / "full.lean.state.gz"
    _write(src, dump)
    sizes = world_lean.lean_state(src, dst)
    lean = json.loads(gzip.decompress(dst.read_bytes()))
    assert lean["accounts"] == dump["accounts"]
    assert lean["block"] == dump["block"]
    assert lean["best_block_number"] == 7
    assert lean["blocks"] == [dump["blocks"][1]]
    assert lean["transactions"] == []
    assert lean["historical_states"] is None
    assert sizes["blocks"] == 4
    assert sizes["best_block"] == 7


def test_a_dump_without_its_best_block_is_refused(tmp_path: Path) -> None:
    """A dump whose best block is not among its blocks raises ValueError and writes nothing."""
    dump = _dump()
    dump["best_block_number"] = 9
    src, dst = tmp_path / "full.state.gz", tmp_path / "full.lean.state.gz"
    _write(src, dump)
    with pytest.raises(ValueError, match="0 blocks numbered 9"):
        world_lean.lean_state(src, dst)
    assert not dst.exists()


def test_the_cached_copy_is_reused(tmp_path: Path) -> None:
    """``cached`` writes the lean copy once, then returns it without writing it again."""
    src = tmp_path / "w.state.gz"
    _write(src, _dump())
    first = world_lean.cached(src)
    assert first.path == tmp_path / "w.lean.state.gz"
    assert first.lean_bytes < first.full_bytes
    again = world_lean.cached(src)
    assert again.made_s == 0.0
    assert again.path == first.path
