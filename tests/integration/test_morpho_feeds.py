"""Morpho markets priced through feeds: resolution, local prices and pending updates, on Anvil.

The world holds every devnet market (keeper/devnet/morpho_spec.py): four priced by Morpho's
``OracleMock`` and two by our ``DevnetChainlinkOracle`` (MorphoChainlinkOracleV2's shape and
formula) over ``ManualAggregator`` feeds, the ETH one behind a ``FeedProxy``.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

import pytest

from keeper.chain.batch import run_calls
from keeper.chain.client import ChainClient
from keeper.devnet.artifacts import morpho_artifact, own_artifact
from keeper.devnet.deployer import Deployer, codec_of
from keeper.devnet.morpho_spec import OracleKind
from keeper.devnet.morpho_world import ADMIN
from keeper.errors import ContractRevertError
from keeper.localnode.anvil import DEV_ACCOUNTS
from keeper.oracles.pending import decode_update
from keeper.protocols.morpho_blue.feed_book import EMITTER_RECHECK_BLOCKS, FeedBook
from keeper.protocols.morpho_blue.lending_market import MorphoLendingMarket
from keeper.protocols.morpho_blue.reads import MORPHO, read_liquidatable
from keeper.protocols.morpho_blue.tracker import MorphoTracker
from keeper.settings import load_settings
from tests.integration.morpho_chain import fund, send

if TYPE_CHECKING:
    from pathlib import Path

    from keeper.devnet.morpho_feeds import DevFeed
    from tests.integration.conftest import MorphoDevnet

pytestmark = pytest.mark.integration
ORACLE = codec_of(morpho_artifact("OracleMock"))
FEED = codec_of(own_artifact("ManualAggregator"))
SHAPED = own_artifact("DevnetChainlinkOracle")
LIQUIDATOR = DEV_ACCOUNTS[1]
ZERO = "0x" + "00" * 20


async def _price(client: ChainClient, oracle: str) -> int | None:
    """``price()`` on chain at the latest block; None when it reverts."""
    try:
        (price,) = ORACLE.decode("price", await client.call(oracle, ORACLE.encode("price")))
    except ContractRevertError:
        return None
    return int(price)


async def _answer(client: ChainClient, feed: DevFeed) -> int:
    raw = await client.call(feed.aggregator, FEED.encode("latestRoundData"))
    return int(FEED.decode("latestRoundData", raw)[1])


async def _set(client: ChainClient, feed: str, answer: int) -> int:
    sent = await send(client, ADMIN, feed, FEED.encode("setAnswer", answer))
    assert sent.ok
    return sent.block


@pytest.mark.asyncio
async def test_local_price_equals_the_oracles_price_after_feed_moves(
    morpho_feed_devnet: MorphoDevnet,
) -> None:
    """Twenty moves of the feeds (up and down, large and by one unit), each followed by the
    tracker: every feed-priced market's local price equals its oracle's ``price()`` on chain,
    the per-block read agrees (no mismatch counted), and OracleMock markets have no feeds.
    """
    d = morpho_feed_devnet.world.deployment
    rng = random.Random(5)
    factors = (0.5, 0.8, 0.97, 0.9999, 1.0001, 1.03, 1.25, 2.0)
    async with ChainClient(morpho_feed_devnet.url) as client:
        tracker = MorphoTracker(client, d.morpho, start_block=d.block)
        await tracker.start()
        feeds = list(d.feeds.values())
        for step in range(20):
            feed = feeds[step % len(feeds)]
            answer = await _answer(client, feed)
            if step % 5 == 4:
                new = answer + rng.choice((-1, 1))
            else:
                new = int(answer * rng.choice(factors))
            block = await _set(client, feed.aggregator, new)
            await tracker.advance(block)
            for m in d.markets:
                shape = tracker.feeds.shape(m.params.oracle)
                if m.oracle is OracleKind.MOCK:
                    assert shape is None
                    assert m.id in tracker.prices
                    continue
                chain = await _price(client, m.params.oracle)
                assert chain is not None
                assert tracker.feeds.local(m.params.oracle) == chain == tracker.prices[m.id]
        assert tracker.feeds.mismatches == 0
        proxied = d.feeds["ETH / USD"]
        assert proxied.address != proxied.aggregator
        assert tracker.feeds.emitters[proxied.address] == proxied.aggregator.lower()


async def _shaped_oracle(
    dep: Deployer, rng: random.Random
) -> tuple[str, dict[str, str], list[str]] | None:
    """A DevnetChainlinkOracle over new feeds (random decimals, one or two a side) and maybe
    vaults; None for a draw whose SCALE_FACTOR cannot be computed (it cannot deploy).
    """
    decimals = {k: rng.choice((0, 6, 8, 18)) for k in ("b1", "b2", "q1", "q2")}
    used = {"b1": True, "q1": True, "b2": rng.random() < 0.5, "q2": rng.random() < 0.5}
    base_token, quote_token = rng.choice((0, 6, 8, 18)), rng.choice((6, 8, 18))
    signed = {k: (1 if k[0] == "q" else -1) * decimals[k] for k in decimals if used[k]}
    exponent = 36 + quote_token - base_token + sum(signed.values())
    feeds = {
        k: await dep.deploy(ADMIN, own_artifact("ManualAggregator"), [decimals[k], k, 1])
        for k in decimals
        if used[k]
    }
    vaults: dict[str, tuple[str, int]] = {}
    for side in ("base", "quote"):
        if rng.random() < 0.5:
            rate = rng.randrange(10**17, 3 * 10**18)
            vault = await dep.deploy(ADMIN, own_artifact("ManualVault"), [rate])
            vaults[side] = (vault, 10 ** rng.choice((0, 6, 18)))
    base_vault, base_sample = vaults.get("base", (ZERO, 1))
    quote_vault, quote_sample = vaults.get("quote", (ZERO, 1))
    if exponent < 0 or 10**exponent * quote_sample >= 2**256:
        return None  # the constructor's SCALE_FACTOR would underflow or overflow
    args: list[Any] = [
        base_vault,
        base_sample,
        feeds["b1"],
        feeds.get("b2", ZERO),
        base_token,
        quote_vault,
        quote_sample,
        feeds["q1"],
        feeds.get("q2", ZERO),
        quote_token,
    ]
    oracle = await dep.deploy(ADMIN, SHAPED, args)
    return oracle, feeds, [v for v, _ in vaults.values()]


@pytest.mark.asyncio
async def test_local_price_equals_price_for_decimal_feed_and_vault_combinations(
    morpho_feed_devnet: MorphoDevnet,
) -> None:
    """Oracles of the shape with random token and feed decimals (0 to 18), one or two feeds a
    side, a vault on either side or none (random samples and rates), random answers (some
    large enough for the 512-bit product, some negative): the keeper's resolution and local
    price give exactly ``price()``, or no price where it reverts.
    """
    rng = random.Random(9)
    vault_codec = codec_of(own_artifact("ManualVault"))
    async with ChainClient(morpho_feed_devnet.url) as client:
        dep = Deployer(client)
        checked = reverted = with_vaults = 0
        for _ in range(14):
            made = await _shaped_oracle(dep, rng)
            if made is None:
                continue
            oracle, feeds, vaults = made
            for _ in range(4):
                for key, feed in feeds.items():
                    answer = rng.randrange(1, 10**36 if rng.random() < 0.25 else 10**12)
                    if key.startswith("b") and rng.random() < 0.08:
                        answer = -answer
                    await _set(client, feed, answer)
                for vault in vaults:
                    rate = rng.randrange(10**17, 3 * 10**18)
                    await send(client, ADMIN, vault, vault_codec.encode("setRate", rate))
                block = await client.block_number()
                book = FeedBook()
                await book.resolve(client, [oracle], block, 50)
                book.take(await run_calls(client, book.calls(block), 50))
                chain = await _price(client, oracle)
                assert book.local(oracle) == chain
                checked += 1
                reverted += chain is None
                with_vaults += bool(vaults)
        assert checked >= 24
        assert 0 < reverted < checked
        assert 0 < with_vaults < checked


async def _liquidatable(
    client: ChainClient, tracker: MorphoTracker, block: int
) -> set[tuple[str, str]]:
    """Morpho's own verdict (a ``liquidate`` from a probe) on every position with collateral."""
    pairs = [(m, a) for m, a, p in tracker.borrowers() if p.collateral > 0]
    params = [tracker.state.markets[m].params for m, _ in pairs]
    verdicts = await read_liquidatable(
        client, tracker.morpho, list(zip(params, (a for _, a in pairs), strict=True)), block, 100
    )
    assert not [v for v in verdicts if not isinstance(v, bool)]
    return {p for p, v in zip(pairs, verdicts, strict=True) if v is True}


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("label", "factor"),
    [("WBTC / USD", 0.9), ("USDC / USD", 1.08), ("ETH / USD", 0.91), ("wstETH / ETH", 0.94)],
)
async def test_a_pending_feed_update_exposes_exactly_what_morpho_then_liquidates(
    morpho_feed_devnet: MorphoDevnet, tmp_path: Path, label: str, factor: float
) -> None:
    """A feed update waits in the node's pool (automine off); it is decoded against the
    market's feed emitters (the aggregator, also behind a proxy), and ``exposed_at`` names the
    positions liquidatable at its price, with no RPC. Once mined, Morpho agrees exactly: the
    probe ``liquidate`` passes the health check for those and only those, a real ``liquidate``
    of each succeeds, the pending oracle price equals ``price()``, and nothing else moved.
    """
    d = morpho_feed_devnet.world.deployment
    feed = d.feeds[label]
    url = morpho_feed_devnet.url
    settings = load_settings(
        rpc_url=url, protocol="morpho_blue", morpho=d.morpho, start_block=d.block, ops_port=None
    )
    async with ChainClient(url) as client:
        market = MorphoLendingMarket(client, d.morpho, settings)
        await market.start()
        emitters = market.feed_emitters()
        assert {f.aggregator.lower() for f in d.feeds.values()} == emitters
        before = await _liquidatable(client, market.tracker, market.block)
        assert not before, "every devnet borrower starts healthy"
        answer = await _answer(client, feed)
        new = int(answer * factor)
        await client.request("evm_setAutomine", [False])
        tx_hash = await client.request(
            "eth_sendTransaction",
            [{"from": ADMIN, "to": feed.aggregator, "data": FEED.encode("setAnswer", new)}],
        )
        pending = await client.pending_tx(tx_hash)
        assert pending is not None
        update = decode_update(pending, emitters)
        assert update is not None and update.answer == new
        prices, hit = market.exposed_at(update.feed, update.answer)
        await client.request("evm_mine", [])
        await client.request("evm_setAutomine", [True])
        receipt = await client.wait_for_receipt(tx_hash, timeout_s=30, poll_s=0.01)
        assert receipt is not None and int(receipt["status"], 16) == 1
        await market.advance(defer=False)
        moved = {m.id for m in d.markets if m.id in prices}
        assert moved
        shapes = {m.id: market.tracker.feeds.shape(m.params.oracle) for m in d.markets}
        assert moved == {
            i for i, s in shapes.items() if s is not None and feed.address in s.feeds()
        }
        for market_id in moved:
            oracle = market.tracker.state.markets[market_id].params.oracle
            assert prices[market_id] == await _price(client, oracle)
        after = await _liquidatable(client, market.tracker, market.block)
        assert hit, "the move must make some positions liquidatable"
        assert {(c.market, c.account) for c in hit} == after
        assert all(m in moved for m, _ in after)
        for candidate in hit:
            params = market.tracker.state.markets[str(candidate.market)].params
            position = market.tracker.state.markets[str(candidate.market)].position(
                candidate.account
            )
            await fund(client, ADMIN, params.loan_token, LIQUIDATOR, 10**40, d.morpho)
            data = MORPHO.encode(
                "liquidate", params.as_tuple(), candidate.account, position.collateral // 4, 0, b""
            )
            assert (await send(client, LIQUIDATOR, d.morpho, data)).ok, candidate.account


@pytest.mark.asyncio
async def test_oracle_mock_markets_have_no_feeds_and_keep_their_price_read(
    morpho_feed_devnet: MorphoDevnet,
) -> None:
    """An OracleMock market resolves to no feeds: its price still comes from ``price()`` each
    block (a ``setPrice`` is followed), and a pending update of a feed of the same token
    (WBTC / USD; WBTC/DAI is an OracleMock market) exposes nothing there.
    """
    d = morpho_feed_devnet.world.deployment
    mock = d.market("WBTC/DAI")
    url = morpho_feed_devnet.url
    settings = load_settings(
        rpc_url=url, protocol="morpho_blue", morpho=d.morpho, start_block=d.block, ops_port=None
    )
    async with ChainClient(url) as client:
        market = MorphoLendingMarket(client, d.morpho, settings)
        await market.start()
        assert market.tracker.feeds.shape(mock.params.oracle) is None
        assert mock.params.oracle.lower() not in market.feed_emitters()
        sent = await send(
            client, ADMIN, mock.params.oracle, ORACLE.encode("setPrice", mock.price * 80 // 100)
        )
        await market.advance(defer=False)
        assert market.block == sent.block
        assert market.tracker.prices[mock.id] == mock.price * 80 // 100
        liquidatable = await _liquidatable(client, market.tracker, market.block)
        assert {m for m, _ in liquidatable} == {mock.id}
        wbtc = d.feeds["WBTC / USD"]
        prices, hit = market.exposed_at(wbtc.aggregator.lower(), 10**8)  # WBTC at 1 USD
        assert mock.id not in prices
        assert hit and all(c.market == d.market("WBTC/USDC").id for c in hit)
        assert market.exposed_at("0x" + "99" * 20, 1) == (market.prices(), [])


@pytest.mark.asyncio
async def test_a_proxy_pointed_at_a_new_aggregator_is_followed(
    morpho_feed_devnet: MorphoDevnet,
) -> None:
    """The ETH / USD proxy is switched to a new aggregator (as Chainlink upgrades a feed):
    within EMITTER_RECHECK_BLOCKS the new aggregator is the emitter the updates are taken
    from, and the local price still equals ``price()``.
    """
    d = morpho_feed_devnet.world.deployment
    proxied = d.feeds["ETH / USD"]
    async with ChainClient(morpho_feed_devnet.url) as client:
        tracker = MorphoTracker(client, d.morpho, start_block=d.block)
        await tracker.start()
        assert tracker.feeds.emitters[proxied.address] == proxied.aggregator.lower()
        dep = Deployer(client)
        fresh = await dep.deploy(
            ADMIN, own_artifact("ManualAggregator"), [8, "ETH / USD", 1_500 * 10**8]
        )
        proxy = codec_of(own_artifact("FeedProxy"))
        await send(client, ADMIN, proxied.address, proxy.encode("setAggregator", fresh))
        await client.request("anvil_mine", [hex(EMITTER_RECHECK_BLOCKS)])
        await tracker.advance(await client.block_number())
        assert tracker.feeds.emitters[proxied.address] == fresh.lower()
        oracle = d.market("wstETH/USDC").params.oracle
        assert tracker.feeds.local(oracle) == await _price(client, oracle)
        assert tracker.feeds.mismatches == 0


@pytest.mark.asyncio
async def test_feeds_older_than_the_heartbeat_are_reported_stale_until_they_update(
    morpho_feed_devnet: MorphoDevnet,
) -> None:
    """Two hours without an update make every feed behind the feed-priced oracles older than
    a one-hour heartbeat: each is reported stale with its age (what the stale-feed breaker
    pauses on); a feed that updates again is fresh at once, the others stay stale.
    """
    d = morpho_feed_devnet.world.deployment
    feeds = list(d.feeds.values())
    async with ChainClient(morpho_feed_devnet.url) as client:
        tracker = MorphoTracker(client, d.morpho, start_block=d.block)
        await tracker.start()
        assert tracker.feeds.stale(tracker.timestamp, 3600) == {}
        await client.request("evm_increaseTime", [7200])
        await client.request("evm_mine", [])
        await tracker.advance(await client.block_number())
        stale = tracker.feeds.stale(tracker.timestamp, 3600)
        assert {k.lower() for k in stale} == {f"feed {f.address}".lower() for f in feeds}
        assert all(age > 7200 for age in stale.values())
        moved = feeds[0]
        block = await _set(client, moved.aggregator, await _answer(client, moved))
        await tracker.advance(block)
        after = tracker.feeds.stale(tracker.timestamp, 3600)
        assert {k.lower() for k in after} == {f"feed {f.address}".lower() for f in feeds[1:]}
