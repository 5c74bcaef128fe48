"""The Aave market's checkpoint payload: every known account and its state at one block.

What is saved is what the logs built and cannot be read again cheaply: the accounts discovered
since ``start_block`` (with the block each was first seen in), their scaled balances as last
read, the accounts still to re-read, and which accounts the last blocks touched (for a reorg
just after the restart). Reserves, eMode categories, prices and feeds are not saved: they are
read again at the head on restore, like on every configuration change.

Format (version 1), UTF-8 JSON lines, integers of the chain as hex strings:
line 1 ``{"start_block", "pool_version", "dirty": [...], "touched": {block: [...]}}``, then
lines of up to 256 accounts ``[[address, first_seen, state], ...]``, ``state`` null (never
read) or ``[user_config, emode, block, {reserve: scaled collateral}, {reserve: scaled variable
debt}, {reserve: [principal, rate, last_update]}]``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from keeper.core.checkpoint import CheckpointRejectedError, DiscardReason
from keeper.protocols.aave_v3.state import AccountState, StableDebt

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

VERSION = 1
# One encoder for every line: ``json.dumps`` with options builds a new one per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"))
# Accounts per line: one encoder call each (fast), short enough that a worker thread encoding
# them hands the interpreter back to the event loop every few milliseconds.
ROWS_PER_LINE = 256


@dataclass(frozen=True)
class TrackedAccounts:
    """The tracker's account-level state (what a checkpoint holds)."""

    start_block: int
    pool_version: str
    first_seen: Mapping[str, int]
    accounts: Mapping[str, AccountState]  # replaced on each read, never changed in place
    dirty: frozenset[str] = frozenset()
    touched: Mapping[int, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class AaveSnapshot:
    """The tracked accounts captured at ``block``; :meth:`encode` runs off the event loop."""

    block: int
    block_hash: str
    timestamp: int
    tracked: TrackedAccounts
    version: int = VERSION

    def encode(self) -> bytes:
        """The JSON-lines payload, handing the interpreter to the event loop after each line."""
        out = []
        for line in _lines(self.tracked):
            out.append(line)
            time.sleep(0)  # releases the GIL: a waiting event loop runs now, not in 5 ms
        return b"".join(out)


def _lines(t: TrackedAccounts) -> Iterator[bytes]:
    head = {
        "start_block": t.start_block,
        "pool_version": t.pool_version,
        "dirty": sorted(t.dirty),
        "touched": {str(b): sorted(a) for b, a in sorted(t.touched.items())},
    }
    yield _dump(head)
    rows: list[list[Any]] = []
    for account, seen in t.first_seen.items():
        state = t.accounts.get(account)
        rows.append([account, seen, None if state is None else _state(state)])
        if len(rows) == ROWS_PER_LINE:
            yield _dump(rows)
            rows = []
    if rows:
        yield _dump(rows)


def _dump(value: object) -> bytes:
    return (_ENCODER.encode(value) + "\n").encode()


def _state(s: AccountState) -> list[Any]:
    return [
        hex(s.user_config),
        s.emode,
        s.block,
        {str(i): hex(v) for i, v in s.scaled_collateral.items()},
        {str(i): hex(v) for i, v in s.scaled_variable_debt.items()},
        {str(i): [hex(d.principal), hex(d.rate), d.last_update] for i, d in s.stable_debt.items()},
    ]


def decode(payload: bytes) -> TrackedAccounts:
    """The tracked accounts of a payload; ``CheckpointRejectedError`` (corrupt) for any flaw."""
    try:
        lines = payload.decode().splitlines() or ["null"]
        head = json.loads(lines[0])
        first_seen: dict[str, int] = {}
        accounts: dict[str, AccountState] = {}
        for line in lines[1:]:
            for address, seen, state in json.loads(line):
                first_seen[_str(address)] = _int(seen)
                if state is not None:
                    accounts[address] = _account(address, state)
        return TrackedAccounts(
            start_block=_int(head["start_block"]),
            pool_version=_str(head["pool_version"]),
            first_seen=first_seen,
            accounts=accounts,
            dirty=frozenset(_str(a) for a in head["dirty"]),
            touched={
                int(b): frozenset(_str(a) for a in accs) for b, accs in head["touched"].items()
            },
        )
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise CheckpointRejectedError(
            DiscardReason.CORRUPT, f"aave payload unreadable: {type(exc).__name__}: {exc}"
        ) from None


def _account(address: str, state: list[Any]) -> AccountState:
    config, emode, block, collateral, debt, stable = state
    return AccountState(
        address=address,
        user_config=_hex(config),
        emode=_int(emode),
        scaled_collateral={int(i): _hex(v) for i, v in collateral.items()},
        scaled_variable_debt={int(i): _hex(v) for i, v in debt.items()},
        stable_debt={
            int(i): StableDebt(_hex(p), _hex(r), _int(t)) for i, (p, r, t) in stable.items()
        },
        block=_int(block),
    )


def _hex(value: object) -> int:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise TypeError(f"expected a hex string, got {type(value).__name__}")
    return int(value, 16)


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value
