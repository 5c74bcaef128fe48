"""SVR back-running end to end: the keeper, the v3.6 devnet, the test builder's MEV-Share double.

The devnet's WETH feed is made an SVR feed (its aggregator's transmitter is an SvrForwarder
owned by an "SVR node" account); the node sends each price update privately with hints
(``eth_sendPrivateTransaction``), the test builder (tests.support.builder, a test double of a
builder, the only miner of the Anvil) publishes the hint on its event stream, and the keeper,
configured with that stream, the builder as its MEV-Share relay and private channels only,
back-runs it. Blocks are built when the test asks.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from eth_account import Account
from pydantic import SecretStr
from structlog.testing import capture_logs

from keeper.chain.client import ChainClient
from keeper.devnet.artifacts import own_artifact
from keeper.devnet.deployer import Deployer
from keeper.devnet.liquidator import deploy_keeper_liquidator
from keeper.protocols.aave_v3.connect import connect
from keeper.submission.events import ChannelResult
from keeper.submission.signing import SearcherIdentity
from tests.integration.conftest import KEEPER_ADDRESS
from tests.integration.helpers import keeper_for, keeper_settings, liquidation_events
from tests.support.builder import TestBuilder
from tests.support.svr_node import ALL_HINTS, FEED, Svr

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping, Sequence
    from pathlib import Path

    from eth_account.signers.local import LocalAccount

    from keeper.app import Keeper
    from tests.integration.conftest import Devnet

pytestmark = pytest.mark.integration
SEARCHER_KEY = "0x" + "5e" * 32


@dataclass
class SvrMarket:
    """The devnet with an SVR WETH feed, the builder in front of it, and the keeper's settings."""

    devnet: Devnet
    builder: TestBuilder
    client: ChainClient  # through the builder
    http: aiohttp.ClientSession
    aggregator: str
    forwarder: str
    node: LocalAccount
    contract: str
    keeper: Keeper | None = None

    @property
    def svr(self) -> Svr:
        """The SVR node and a searcher identity of its own."""
        identity = SearcherIdentity(SecretStr(Account.create().key.hex()))
        return Svr(
            self.builder,
            self.client,
            self.http,
            self.aggregator,
            self.forwarder,
            self.node,
            identity,
        )

    async def answer(self) -> int:
        """The WETH feed's answer now."""
        raw = await self.client.call(self.aggregator, FEED.encode("latestAnswer"))
        return int(FEED.decode("latestAnswer", raw)[0])

    async def signed(
        self, account: LocalAccount, to: str, data: str, *, tip_gwei: int = 1
    ) -> tuple[str, str]:
        """A raw EIP-1559 transaction from ``account`` at its next nonce, and its hash."""
        return await self.svr.signed(account, to, data, tip_gwei=tip_gwei)

    async def private_update(self, answer: int) -> str:
        """The SVR node's update to ``answer`` (the report's median), sent privately with
        every hint; its hash.
        """
        return await self.svr.update([answer - 2, answer, answer + 3], ALL_HINTS)

    async def rpc(self, method: str, params: list[Any]) -> dict[str, Any]:
        """A request to the builder signed by a searcher identity (not the keeper's)."""
        return (await self.svr.call(method, params))[1]

    def settings(self, tmp_path: Path, **overrides: Any) -> Any:
        """The keeper: our contract with coinbase bids, private channels only, SVR on WETH."""
        fields: dict[str, Any] = {
            "rpc_url": self.builder.url,
            "flash_liquidator": self.contract,
            "coinbase_payment": True,
            "public_mempool": False,
            "bundle_builders": [self.builder.url],
            "searcher_key": SEARCHER_KEY,
            "mev_share_urls": [self.builder.url],
            "mev_share_stream_url": self.builder.url + "/events",
            "svr_aggregators": [self.aggregator],
            "min_profit_usd": 1,
        }
        return keeper_settings(self.devnet, tmp_path, **(fields | overrides))


@contextlib.asynccontextmanager
async def _svr_market(devnet: Devnet) -> AsyncIterator[SvrMarket]:
    """Our contract (1 ETH for bids), the SVR forwarder as the WETH aggregator's transmitter,
    all while the devnet automines; then the builder takes over mining.
    """
    node: LocalAccount = Account.create()
    async with ChainClient(devnet.url) as setup:
        contract = await deploy_keeper_liquidator(
            setup, devnet.world, KEEPER_ADDRESS, fund_wei=10**18
        )
        dep = Deployer(setup)
        await dep.impersonate_all()
        await dep.set_balance(node.address, 10**20)
        aggregator = devnet.world.asset("WETH").feed
        (owner,) = await dep.read(aggregator, FEED, "owner")
        forwarder = await dep.deploy(node.address, own_artifact("SvrForwarder"))
        await dep.call_fn(str(owner), aggregator, FEED, "setTransmitter", forwarder)
    async with (
        TestBuilder(devnet.url) as builder,
        ChainClient(builder.url) as client,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http,
    ):
        builder.mev_share.ping_s = 0.2
        yield SvrMarket(
            devnet, builder, client, http, aggregator.lower(), forwarder, node, contract
        )


@contextlib.asynccontextmanager
async def _running(market: SvrMarket, tmp_path: Path, **overrides: Any) -> AsyncIterator[Keeper]:
    """The keeper running until the block ends, ready and listening to the stream."""
    settings = market.settings(tmp_path, **overrides)
    client, chain_id, lending = await connect(settings)
    keeper = keeper_for(settings, client, chain_id, lending)
    stop = asyncio.Event()
    task = asyncio.create_task(keeper.run(stop))
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not keeper.prepared:
            await asyncio.sleep(0.05)
        assert keeper.prepared, "the keeper never got ready"
        market.keeper = keeper
        await market.builder.mev_share.wait_for_subscribers(1, timeout_s=30)
        yield keeper
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)
        keeper.journal.close()
        await client.close()


async def _built_until(market: SvrMarket, done: Any, blocks: int = 15) -> None:
    """Build blocks until ``done()``, each once the keeper processed the one before (or 10 s).

    A keeper still settling the transactions of a head processes the next one after: waiting
    for it keeps the test's pace to the keeper's on a loaded machine.
    """
    keeper = market.keeper
    for _ in range(blocks):
        built = await market.builder.build()
        deadline = time.monotonic() + 10
        while (
            time.monotonic() < deadline and keeper is not None and keeper.last_block < built.number
        ):
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # the channels' watches poll the head too
        if await done():
            return


async def _block_txs(client: ChainClient, number: int) -> list[dict[str, Any]]:
    block = await client.request("eth_getBlockByNumber", [hex(number), True])
    return list(block["transactions"])


def _mev_bundles(builder: TestBuilder) -> list[Any]:
    return [b for b in builder.received if b.method == "mev_sendBundle"]


@pytest.mark.asyncio
async def test_an_svr_update_and_our_backrun_land_in_the_same_block_ours_right_after_it(
    devnet: Devnet, tmp_path: Path
) -> None:
    """A private WETH -30% SVR update: from its hint alone (no RPC for the price), the keeper
    sends one mev_sendBundle [the update's hash, our liquidation] with a coinbase bid before any
    block is built. The next block holds the update and, right after it, our liquidation
    through our contract, which paid the builder; the accounts the back-run left are then
    liquidated by the standard path in the next blocks, through bundles. The metrics show
    the stream up, the update seen, the back-run included and the bid it paid.
    """
    async with _svr_market(devnet) as market, _running(market, tmp_path) as keeper:
        before = await market.answer()
        with capture_logs() as logs:
            update = await market.private_update(before * 70 // 100)
            await market.builder.wait_for(lambda: bool(_mev_bundles(market.builder)), 30)
            (ours,) = _mev_bundles(market.builder)
            assert ours.backrun_of == update and ours.first_block == market.builder.head + 1
            coinbase = await market.client.get_balance("0x" + "c0" * 20)
            built = await market.builder.build()
            txs = await _block_txs(market.client, built.number)
            hashes = [t["hash"].lower() for t in txs]
            assert hashes[0] == update
            assert hashes[1] == ours.hashes[0] and txs[1]["from"].lower() == KEEPER_ADDRESS.lower()
            receipt = await market.client.receipt(ours.hashes[0])
            assert receipt is not None and receipt.ok
            events = await liquidation_events(market.client, devnet.world.market.pool, built.number)
            in_block = [e for e in events if e["liquidator"].lower() == market.contract.lower()]
            assert len(in_block) == 1
            assert await market.answer() == before * 70 // 100
            assert await market.client.get_balance("0x" + "c0" * 20) > coinbase

            async def settled() -> bool:
                return not keeper.cycle.book.in_flight() and any(
                    e["event"] == "svr_backrun_done" for e in logs
                )

            await _built_until(market, settled)
        done = [e for e in logs if e["event"] == "svr_backrun_done"]
        assert done and done[0]["outcome"] == "liquidated", done
        sample = keeper.metrics.registry.get_sample_value
        assert sample("keeper_svr_stream_connected", {"stream": "mev_share"}) == 1
        assert sample("keeper_svr_updates_seen_total", {"feed": market.aggregator}) == 1
        assert sample("keeper_channel_included_total", {"channel": "mev_share"}) == 1
        # What the builder got: our tip and the coinbase bid (the contract's 1 ETH float).
        paid = sample("keeper_channel_bid_paid_wei_total", {"channel": "mev_share"})
        assert paid is not None and paid > 10**18
        seen = [e for e in logs if e["event"] == "svr_update_seen"]
        assert seen and seen[0]["answer"] == before * 70 // 100 and seen[0]["accounts"] >= 1


async def _ours_liquidated_after(market: SvrMarket, account: str, block: int) -> bool:
    """Whether our contract liquidated ``account`` in a block after ``block``."""
    events = await liquidation_events(market.client, market.devnet.world.market.pool, block + 1)
    return any(
        e["user"].lower() == account.lower() and e["liquidator"].lower() == market.contract.lower()
        for e in events
    )


@pytest.mark.asyncio
@pytest.mark.parametrize(("rival_tip_gwei", "we_win"), [(1, True), (200_000, False)])
async def test_against_a_competing_backrun_we_win_when_it_bids_less_and_record_it_when_more(
    devnet: Devnet, tmp_path: Path, rival_tip_gwei: int, we_win: bool
) -> None:
    """Another searcher back-runs the same SVR update. Paying the builder less than our bid, it
    is outbid and ours lands behind the update; paying more (4.2 ETH of tips), it lands and ours
    does not: the MEV-Share channel records ours as lost, it cost nothing (never mined, its
    nonce freed, no cooldown), and the standard path liquidates the account in a later block.
    """
    async with _svr_market(devnet) as market, _running(market, tmp_path) as keeper:
        rival: LocalAccount = Account.create()
        await market.client.request("anvil_setBalance", [rival.address, hex(10**21)])
        with capture_logs() as logs:
            update = await market.private_update(await market.answer() * 70 // 100)
            await market.builder.wait_for(lambda: bool(_mev_bundles(market.builder)), 30)
            (ours,) = _mev_bundles(market.builder)
            raw, rival_hash = await market.signed(
                rival, rival.address, "0x", tip_gwei=rival_tip_gwei
            )
            body = [{"hash": update}, {"tx": raw, "canRevert": False}]
            inclusion = {"block": hex(market.builder.head + 1)}
            sent = await market.rpc(
                "mev_sendBundle", [{"version": "v0.1", "inclusion": inclusion, "body": body}]
            )
            assert "result" in sent, sent
            built = await market.builder.build()
            hashes = [t["hash"].lower() for t in await _block_txs(market.client, built.number)]
            winner = ours.hashes[0] if we_win else rival_hash
            assert hashes[:2] == [update, winner.lower()]
            assert [b.hashes[0] for b in built.outbid] == [rival_hash if we_win else ours.hashes[0]]

            async def resolved() -> bool:
                return any(e["event"] == "svr_backrun_done" for e in logs)

            await _built_until(market, resolved, blocks=3)
            (done,) = [e for e in logs if e["event"] == "svr_backrun_done"]
            account = done["account"]
            if we_win:
                assert done["outcome"] == "liquidated"
                return
            assert done["outcome"] == "not_included"
            assert await market.client.receipt(ours.hashes[0]) is None
            records = keeper.journal.channels_of(ours.hashes[0])
            assert [(r.channel, r.last_result) for r in records] == [
                ("mev_share", ChannelResult.LOST)
            ]
            assert keeper.cycle.book.gate(account, built.number + 1, set()) is None

            async def liquidated() -> bool:
                return await _ours_liquidated_after(market, account, built.number)

            await _built_until(market, liquidated)
            assert await liquidated(), _story(logs, account)


@pytest.mark.asyncio
async def test_an_svr_update_that_never_lands_leaves_the_account_to_the_standard_feed_path(
    devnet: Devnet, tmp_path: Path
) -> None:
    """The SVR update is withheld (it never lands): our back-run is never included and, once
    its last block passed, ends stale at no cost (its nonce given back). When the standard feed
    update then lands on chain, the block cycle liquidates the account through a bundle.
    """
    async with _svr_market(devnet) as market, _running(market, tmp_path) as keeper:
        new_answer = await market.answer() * 70 // 100
        with capture_logs() as logs:
            update = await market.private_update(new_answer)
            await market.builder.wait_for(lambda: bool(_mev_bundles(market.builder)), 30)
            (ours,) = _mev_bundles(market.builder)
            market.builder.withhold(update)

            async def resolved() -> bool:
                return any(e["event"] == "svr_backrun_done" for e in logs)

            await _built_until(market, resolved, blocks=4)
            (done,) = [e for e in logs if e["event"] == "svr_backrun_done"]
            assert done["outcome"] == "not_included"
            assert await market.client.receipt(ours.hashes[0]) is None
            records = keeper.journal.channels_of(ours.hashes[0])
            assert [(r.channel, r.last_result) for r in records] == [
                ("mev_share", ChannelResult.STALE)
            ]
            nonce = await market.client.get_transaction_count(KEEPER_ADDRESS, "latest")
            (owner,) = FEED.decode(
                "owner", await market.client.call(market.aggregator, FEED.encode("owner"))
            )
            await market.client.request("anvil_impersonateAccount", [owner])
            standard = await market.client.request(
                "eth_sendTransaction",
                [
                    {
                        "from": owner,
                        "to": market.aggregator,
                        "data": FEED.encode("setAnswer", new_answer),
                    }
                ],
            )
            built = await market.builder.build()
            assert await market.client.receipt(standard) is not None

            async def liquidated() -> bool:
                return await _ours_liquidated_after(market, done["account"], built.number - 1)

            await _built_until(market, liquidated)
            assert await liquidated(), _story(logs, done["account"])
            assert await market.client.get_transaction_count(KEEPER_ADDRESS, "latest") > nonce


def _story(logs: Sequence[Mapping[str, Any]], account: str) -> list[tuple[Any, ...]]:
    """What the keeper logged about ``account`` and the blocks (a failure's explanation)."""
    return [
        (e["event"], e.get("block"), e.get("outcome"), e.get("reason"), e.get("result"))
        for e in logs
        if e.get("account") == account or e["event"] in ("block_checked", "channel_result")
    ]


@pytest.mark.asyncio
async def test_an_svr_aggregator_the_market_does_not_read_stops_the_keeper_at_start(
    devnet: Devnet, tmp_path: Path
) -> None:
    """svr_aggregators naming a contract that is none of the market's feeds would never be
    back-run: once the market is read, the keeper stops with a ConfigError naming the key and
    the market's real feed aggregators (the CLI's exit 2), instead of running without it.
    """
    from keeper.errors import ConfigError

    async with _svr_market(devnet) as market:
        wrong = "0x" + "de" * 20
        settings = market.settings(tmp_path, svr_aggregators=[wrong])
        client, chain_id, lending = await connect(settings)
        keeper = keeper_for(settings, client, chain_id, lending)
        try:
            with pytest.raises(ConfigError, match="svr_aggregators") as err:
                await asyncio.wait_for(keeper.run(asyncio.Event()), 60)
            assert wrong in str(err.value) and market.aggregator in str(err.value)
        finally:
            keeper.journal.close()
            await client.close()
