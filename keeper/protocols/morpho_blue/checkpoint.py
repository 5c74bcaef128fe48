"""The Morpho market's checkpoint payload: every followed market and position at one block.

What is saved is what the logs built: each market's parameters and totals, every position
seen, the fee recipient, and what the last blocks changed (``history.py``, for a reorg just
after the restart). Prices and IRM rates are not saved: they are read again at the head.
Settings that change the state (``start_block``, the market lists) are saved too, so a
checkpoint made with others is discarded.

Format (version 1), UTF-8 JSON lines, integers of the chain as hex strings: line 1 ``{
"start_block", "markets", "skip_markets", "fee_recipient", "since", "recent": {block: [pairs,
markets, created, fee_recipient]}}``; then per market ``["market", id, [loan, collateral,
oracle, irm, lltv], [6 totals]]`` followed by lines ``["positions", id, [[account, supply
shares, borrow shares, collateral], ...]]`` of up to 256 positions.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from keeper.core.checkpoint import CheckpointRejectedError, DiscardReason
from keeper.protocols.morpho_blue.history import BlockChanges
from keeper.protocols.morpho_blue.state import MarketState, MorphoState
from keeper.protocols.morpho_blue.types import MarketParams, MarketTotals, Position

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

VERSION = 1
ROWS_PER_LINE = 256
_ENCODER = json.JSONEncoder(separators=(",", ":"))


@dataclass(frozen=True)
class Saved:
    """What a checkpoint holds (positions dicts are copies; the rest is never changed)."""

    start_block: int
    lists: tuple[tuple[str, ...], tuple[str, ...]]  # (morpho_markets, morpho_skip_markets)
    fee_recipient: str | None
    markets: Mapping[str, tuple[MarketParams, MarketTotals, Mapping[str, Position]]]
    since: int
    recent: Mapping[int, BlockChanges] = field(default_factory=dict)

    def state(self) -> MorphoState:
        """A fresh tracker state from the saved one."""
        out = MorphoState(fee_recipient=self.fee_recipient)
        for market_id, (params, totals, positions) in self.markets.items():
            out.markets[market_id] = MarketState(params, totals, dict(positions))
        return out


@dataclass(frozen=True)
class MorphoSnapshot:
    """The followed state captured at ``block``; :meth:`encode` runs off the event loop."""

    block: int
    block_hash: str
    timestamp: int
    saved: Saved
    version: int = VERSION

    def encode(self) -> bytes:
        """The JSON-lines payload, handing the interpreter to the event loop after each line."""
        out = []
        for line in _lines(self.saved):
            out.append(line)
            time.sleep(0)  # releases the GIL: a waiting event loop runs now
        return b"".join(out)


def _hex(value: int) -> str:
    return hex(value)


def _dump(value: object) -> bytes:
    return (_ENCODER.encode(value) + "\n").encode()


def _lines(s: Saved) -> Iterator[bytes]:
    yield _dump(
        {
            "start_block": s.start_block,
            "markets": list(s.lists[0]),
            "skip_markets": list(s.lists[1]),
            "fee_recipient": s.fee_recipient,
            "since": s.since,
            "recent": {
                str(b): [sorted(c.pairs), sorted(c.markets), sorted(c.created), c.fee_recipient]
                for b, c in sorted(s.recent.items())
            },
        }
    )
    for market_id, (p, t, positions) in s.markets.items():
        yield _dump(
            [
                "market",
                market_id,
                [p.loan_token, p.collateral_token, p.oracle, p.irm, _hex(p.lltv)],
                [_hex(v) for v in t.as_tuple()],
            ]
        )
        rows: list[list[str]] = []
        for account, q in positions.items():
            rows.append([account, _hex(q.supply_shares), _hex(q.borrow_shares), _hex(q.collateral)])
            if len(rows) == ROWS_PER_LINE:
                yield _dump(["positions", market_id, rows])
                rows = []
        if rows:
            yield _dump(["positions", market_id, rows])


def decode(payload: bytes) -> Saved:
    """The saved state; CheckpointRejectedError(CORRUPT) for a payload that does not parse."""
    try:
        return _decode(payload)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise CheckpointRejectedError(
            DiscardReason.CORRUPT, f"morpho payload unreadable: {type(exc).__name__}: {exc}"
        ) from None


def _decode(payload: bytes) -> Saved:
    lines = payload.decode().splitlines()
    head: dict[str, Any] = json.loads(lines[0])
    markets: dict[str, tuple[MarketParams, MarketTotals, dict[str, Position]]] = {}
    for line in lines[1:]:
        kind, market_id, body = json.loads(line)[:3]
        if kind == "market":
            loan, coll, oracle, irm, lltv = body
            totals = MarketTotals(*(int(v, 16) for v in json.loads(line)[3]))
            params = MarketParams(str(loan), str(coll), str(oracle), str(irm), int(lltv, 16))
            markets[str(market_id)] = (params, totals, {})
        elif kind == "positions":
            positions = markets[str(market_id)][2]
            for account, supply, borrow, coll in body:
                positions[str(account)] = Position(int(supply, 16), int(borrow, 16), int(coll, 16))
        else:
            raise ValueError(f"unknown line kind {kind!r}")
    recent = {
        int(b): BlockChanges({(str(m), str(a)) for m, a in pairs}, set(ms), set(created), bool(fee))
        for b, (pairs, ms, created, fee) in head["recent"].items()
    }
    recipient = head["fee_recipient"]
    return Saved(
        int(head["start_block"]),
        (tuple(head["markets"]), tuple(head["skip_markets"])),
        None if recipient is None else str(recipient),
        markets,
        int(head["since"]),
        recent,
    )
