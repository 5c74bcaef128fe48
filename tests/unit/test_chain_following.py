"""Log range splitting, head tracking with reorgs, and event effects, with fake nodes."""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi.abi import encode

from keeper.chain.heads import DeepReorgError, HeadTracker
from keeper.chain.logs import LogFetcher
from keeper.errors import RpcError
from keeper.protocols.aave_v3.events import ATOKEN, CONFIGURATOR, EventDecoder
from keeper.protocols.aave_v3.market import POOL


class FakeLogsNode:
    """Answers eth_getLogs for spans up to ``limit`` blocks, refuses wider ones."""

    def __init__(self, limit: int, error: str = "query exceeds max block range") -> None:
        self.limit = limit
        self.error = error
        self.spans: list[tuple[int, int]] = []

    async def get_logs(self, *, address, topics, from_block, to_block) -> list[dict[str, Any]]:
        self.spans.append((from_block, to_block))
        if to_block - from_block + 1 > self.limit:
            raise RpcError(self.error, method="eth_getLogs", code=-32005)
        return [{"blockNumber": hex(b)} for b in range(from_block, to_block + 1) if b % 7 == 0]


@pytest.mark.asyncio
async def test_log_fetcher_splits_grows_and_covers_every_block():
    """Refused ranges are halved until accepted, the span grows back, and every block is
    covered exactly once, in order.
    """
    node = FakeLogsNode(limit=100)
    progress: list[int] = []
    fetcher = LogFetcher(node, span=1000, on_progress=lambda s, e, last: progress.append(e))  # type: ignore[arg-type]
    logs = await fetcher.fetch(["0x1"], ["0x2"], 0, 2_500)
    assert [int(x["blockNumber"], 16) for x in logs] == list(range(0, 2_501, 7))
    assert fetcher.splits > 0
    accepted = [s for s in node.spans if s[1] - s[0] + 1 <= 100]
    assert sum(e - s + 1 for s, e in accepted) == 2_501
    assert progress[-1] == 2_500


@pytest.mark.asyncio
async def test_log_fetcher_raises_other_errors():
    """An error that is not about the range is not retried by splitting."""
    node = FakeLogsNode(limit=10, error="invalid argument 0: bad address")
    with pytest.raises(RpcError, match="bad address"):
        await LogFetcher(node, span=100).fetch(["0x1"], ["0x2"], 0, 500)  # type: ignore[arg-type]


class FakeChain:
    """A chain of blocks whose tail can be replaced (a reorg)."""

    def __init__(self, length: int) -> None:
        self.blocks: list[dict[str, Any]] = []
        for n in range(length):
            self.blocks.append(self._block(n, "a"))

    def _block(self, n: int, fork: str) -> dict[str, Any]:
        parent = self.blocks[n - 1]["hash"] if n else "0x" + "00" * 32
        return {
            "number": hex(n),
            "hash": f"0x{fork}{n:063x}",
            "parentHash": parent,
            "timestamp": hex(1000 + n),
        }

    def reorg(self, from_block: int, new_length: int, fork: str) -> None:
        del self.blocks[from_block:]
        for n in range(from_block, new_length):
            self.blocks.append(self._block(n, fork))

    async def batch(self, calls):
        return [
            self.blocks[int(p[0], 16)] if int(p[0], 16) < len(self.blocks) else None
            for _, p in calls
        ]


@pytest.mark.asyncio
async def test_head_tracker_follows_and_finds_the_common_ancestor():
    """New blocks extend the chain; a replaced tail is reported with its common ancestor, also
    when the new head is lower than the old one.
    """
    chain = FakeChain(10)
    heads = HeadTracker(chain, depth=64)  # type: ignore[arg-type]
    await heads.start(2)
    assert (await heads.advance(9)).headers[-1].number == 9
    chain.reorg(10, 13, "a")
    advance = await heads.advance(12)
    assert advance.ancestor is None and [h.number for h in advance.headers] == [10, 11, 12]
    chain.reorg(8, 15, "b")
    advance = await heads.advance(14)
    assert advance.ancestor == 7
    assert [h.number for h in advance.headers] == list(range(8, 15))
    chain.reorg(5, 7, "c")
    advance = await heads.advance(6)
    assert advance.ancestor == 4 and [h.number for h in advance.headers] == [5, 6]
    assert (await heads.advance(6)).headers == []
    chain.reorg(1, 8, "d")
    with pytest.raises(DeepReorgError):
        await heads.advance(7)


def _log(address: str, topics: list[str], data: bytes, block: int) -> dict[str, Any]:
    return {
        "address": address,
        "topics": topics,
        "data": "0x" + data.hex(),
        "blockNumber": hex(block),
    }


def _addr_topic(address: str) -> str:
    return "0x" + encode(["address"], [address]).hex()


def test_event_effects():
    """Borrow touches onBehalfOf; aToken transfers touch both sides; ReserveDataUpdated marks
    the reserve; any configurator event reloads the market.
    """
    pool, conf, oracle, atoken = ("0x" + c * 40 for c in "1234")
    decoder = EventDecoder(pool, conf, oracle)
    decoder.a_tokens = {atoken.lower()}
    user, payer, other = ("0x" + c * 40 for c in "abc")
    reserve = "0x" + "d" * 40
    borrow = _log(
        pool,
        [POOL.topic("Borrow"), _addr_topic(reserve), _addr_topic(user), "0x" + "00" * 32],
        encode(["address", "uint256", "uint8", "uint256"], [payer, 5, 2, 7]),
        3,
    )
    transfer = _log(
        atoken,
        [ATOKEN.topic("Transfer"), _addr_topic(user), _addr_topic(other)],
        encode(["uint256"], [9]),
        4,
    )
    updated = _log(
        pool,
        [POOL.topic("ReserveDataUpdated"), _addr_topic(reserve)],
        encode(["uint256"] * 5, [1, 2, 3, 4, 5]),
        4,
    )
    topic = next(iter(CONFIGURATOR.events_by_topic))
    entry = CONFIGURATOR.events_by_topic[topic]
    indexed = [i for i in entry["inputs"] if i.get("indexed")]
    plain = [i["type"] for i in entry["inputs"] if not i.get("indexed")]
    config = _log(
        conf,
        [topic] + ["0x" + "00" * 32] * len(indexed),
        encode(
            plain,
            [
                0
                if "int" in t
                else (
                    "0x" + "00" * 20
                    if t == "address"
                    else (False if t == "bool" else b"" if t == "bytes" else "")
                )
                for t in plain
            ],
        ),
        5,
    )
    effects = decoder.apply([borrow, transfer, updated, config])
    checksum = {a.lower(): a for a in effects.accounts()}
    assert set(checksum) == {user.lower(), other.lower()}
    assert effects.touched[3] == {checksum[user.lower()]}
    assert {a.lower() for a in effects.reserves} == {reserve.lower()}
    assert effects.config_changed
    assert POOL.topic("Borrow") in decoder.topics()


def test_v36_events_deficits_grace_periods_and_emode_bitmaps():
    """3.3+ DeficitCreated touches the borrower and marks its debt reserve (its deficit is
    read again); 3.1+ grace-period and 3.2+ eMode-bitmap configurator events reload the market;
    all of them are in the log filter.
    """
    from keeper.protocols.aave_v3.market import CONFIGURATOR_V36, POOL_V36

    pool, conf, oracle = ("0x" + c * 40 for c in "123")
    decoder = EventDecoder(pool, conf, oracle)
    user, debt_asset, asset = ("0x" + c * 40 for c in "abd")
    deficit = _log(
        pool,
        [POOL_V36.topic("DeficitCreated"), _addr_topic(user), _addr_topic(debt_asset)],
        encode(["uint256"], [123]),
        9,
    )
    effects = decoder.apply([deficit])
    assert {a.lower() for a in effects.touched[9]} == {user.lower()}
    assert {r.lower() for r in effects.reserves} == {debt_asset.lower()}
    assert not effects.config_changed
    grace = _log(
        conf,
        [CONFIGURATOR_V36.topic("LiquidationGracePeriodChanged"), _addr_topic(asset)],
        encode(["uint40"], [1_800_000_000]),
        10,
    )
    bitmap = _log(
        conf,
        [CONFIGURATOR_V36.topic("AssetCollateralInEModeChanged"), _addr_topic(asset)],
        encode(["uint8", "bool"], [1, False]),
        10,
    )
    for log in (grace, bitmap):
        assert decoder.apply([log]).config_changed
    topics = set(decoder.topics())
    assert POOL_V36.topic("DeficitCreated") in topics
    assert CONFIGURATOR_V36.topic("LiquidationGracePeriodChanged") in topics
    assert CONFIGURATOR_V36.topic("AssetLtvzeroInEModeChanged") in topics
