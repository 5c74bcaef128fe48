"""A block's logs bloom spares the request for its logs when none of ours can be in it.

Against Anvil with the devnet market: the header's ``logsBloom`` as Anvil computes it (no
hand-made bloom), the log fetcher the trackers use, the request count of the real client.
"""

from __future__ import annotations

import pytest

from keeper.chain.bloom import bloom_of, may_contain, may_have_logs_of
from keeper.chain.client import ChainClient
from keeper.chain.heads import Header
from keeper.chain.logs import LogFetcher
from keeper.devnet.scenarios import shock_price

pytestmark = pytest.mark.integration
STRANGER = "0x" + "5a" * 20  # no contract at all: its bits are not all set in these blooms


@pytest.mark.asyncio
async def test_an_empty_block_costs_no_log_request_and_a_block_with_ours_is_read(devnet):
    """An empty block's bloom is zero: the fetcher returns no logs without asking. The block of
    a price move has the feed's address and every log's topics in its bloom: the fetcher asks
    and gets the move's logs, exactly what an unfiltered eth_getLogs of that block returns.
    """
    world = devnet.world
    async with ChainClient(devnet.url) as client:
        await client.request("evm_mine", [])
        empty = Header.from_rpc(await client.get_block("latest"))
        assert empty.logs_bloom == 0
        fetcher = LogFetcher(client, span=1_000)
        before = client.calls["eth_getLogs"]
        got = await fetcher.fetch_block([world.market.pool], [], empty.hash, empty.logs_bloom)
        assert got == [] and client.calls["eth_getLogs"] == before and fetcher.skipped == 1

        shock = await shock_price(client, world.market.pool_addresses_provider, "WETH", -5)
        moved = Header.from_rpc(await client.get_block(shock.block))
        assert moved.logs_bloom is not None
        every = await client.block_logs(address=[], topics=[], block_hash=moved.hash)
        assert every, "a price move emits logs"
        for log in every:
            assert may_contain(moved.logs_bloom, bytes.fromhex(log["address"][2:]))
            for topic in log["topics"]:
                assert may_contain(moved.logs_bloom, bytes.fromhex(topic[2:]))
        assert not may_have_logs_of(moved.logs_bloom, [STRANGER])
        emitters = sorted({log["address"] for log in every})
        got = await fetcher.fetch_block(emitters, [], moved.hash, moved.logs_bloom)
        assert len(got) == len(every) and client.calls["eth_getLogs"] == before + 2


def test_a_missing_or_malformed_bloom_means_reading_the_logs():
    """No bloom, a non-hex one or one wider than 2048 bits is no proof: the logs are read."""
    for raw in (None, "", "0x", "zz", "0xnothex", "0x1" + "0" * 512):
        assert bloom_of(raw) is None
    assert may_have_logs_of(None, [STRANGER])
    assert bloom_of("0x" + "00" * 256) == 0
