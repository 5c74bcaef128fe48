"""Chain faults: the node restarts, subscriptions drop, blocks reorg, fees spike, the pool
drops our transaction, someone else uses our key or wins the race, feeds go bad, gas runs out.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import pytest

from keeper.chain.client import ChainClient
from keeper.devnet.scenarios import FEED, shock_price
from keeper.localnode.anvil import Anvil, AnvilOptions
from tests.integration.conftest import KEEPER_ADDRESS
from tests.integration.helpers import (
    account_data,
    competitor_liquidates,
    competitor_ready,
    liquidation_events,
)
from tests.reliability.fault_proxy import FaultProxy
from tests.reliability.harness import (
    Keeper,
    assert_clean,
    check_invariants,
    liquidatable,
    run_to_clean_end,
    wait_liquidated,
    wait_quiet,
)

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.integration, pytest.mark.reliability]


async def _stop(keeper: Keeper) -> None:
    code, _ = await keeper.daemon.stop()
    assert code == 0, "".join(keeper.daemon.err[-20:])


async def _set_feed(chain: ChainClient, devnet: Any, symbol: str, answer: int) -> None:
    feed = devnet.world.asset(symbol).feed
    (owner,) = FEED.decode("owner", await chain.call(feed, FEED.encode("owner")))
    await chain.request("anvil_impersonateAccount", [owner])
    await chain.request(
        "eth_sendTransaction",
        [{"from": owner, "to": feed, "data": FEED.encode("setAnswer", answer)}],
    )


async def _answer(chain: ChainClient, devnet: Any, symbol: str) -> int:
    feed = devnet.world.asset(symbol).feed
    return int(FEED.decode("latestAnswer", await chain.call(feed, FEED.encode("latestAnswer")))[0])


async def _until(predicate: Any, seconds: float = 60.0, *, mine: ChainClient | None = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await predicate():
            return
        if mine is not None:
            await mine.request("evm_mine", [])
        await asyncio.sleep(0.1)
    raise AssertionError("condition not reached in time")


async def _sent(keeper: Keeper, purpose: str, after: int = 0) -> dict[str, Any]:
    """The first transaction_sent line of ``purpose`` after the first ``after`` ones."""
    found: list[dict[str, Any]] = []

    async def there() -> bool:
        found[:] = [e for e in keeper.daemon.events("transaction_sent") if e["purpose"] == purpose]
        return len(found) > after

    await _until(there)
    return found[after]


async def _automine_to_clean_end(chain: ChainClient, devnet: Any, keeper: Keeper) -> None:
    """Back to automine after a scenario that mined by hand; then the clean-end check."""
    await chain.request("evm_setAutomine", [True])
    assert_clean(
        await run_to_clean_end(chain, devnet, keeper, await _shock_block(chain, devnet), mine=True)
    )


@pytest.mark.asyncio
async def test_node_killed_and_restarted_with_the_same_state(snapshot, devnet, tmp_path: Path):
    """The node dies mid-run (its state dumped as it stops) and comes back 3 s later with the
    same state: the keeper rides out the outage and liquidates everything after the shock.
    """
    dump = tmp_path / "node-state.json"
    first = Anvil(AnvilOptions(load_state=snapshot.state, extra_args=["--dump-state", str(dump)]))
    first.start()
    try:
        async with FaultProxy(first.url) as proxy:
            keeper = await Keeper.start(proxy.url, tmp_path)
            try:
                async with ChainClient(first.url) as chain:
                    shock = await shock_price(
                        chain, devnet.world.market.pool_addresses_provider, "WETH", -30
                    )
                    # The restarted node has the latest state only, not the history (nor the
                    # logs of liquidations mined before the stop): debts are compared too.
                    wanted = await liquidatable(chain, devnet, shock.block)
                    debt_at_shock = {
                        a: (
                            await account_data(chain, devnet.world.market.pool, a, shock.block)
                        ).total_debt_base
                        for a in wanted
                    }
                    await keeper.daemon.wait_event("liquidation_attempt", 60)
                first.stop()  # SIGTERM: Anvil writes its state and exits
                await asyncio.sleep(3)
                assert await keeper.healthz() in (200, 503)  # up, whatever it thinks
                with Anvil(AnvilOptions(load_state=dump)) as second:
                    proxy.upstream = second.url
                    async with ChainClient(second.url) as chain:
                        await chain.request("evm_mine", [])  # a new head after the restart
                        found = await run_to_clean_end(
                            chain,
                            devnet,
                            keeper,
                            shock.block,
                            wanted=wanted,
                            debt_at_shock=debt_at_shock,
                        )
                        assert_clean(found)
                    await _stop(keeper)
            finally:
                if keeper.daemon.proc is not None and keeper.daemon.proc.returncode is None:
                    await keeper.daemon.stop()
    finally:
        first.stop()


@pytest.mark.asyncio
async def test_websocket_head_subscription_dropped(devnet, tmp_path):
    """Over WebSocket, every connection is dropped after start and again after the shock: the
    keeper reconnects, subscribes again, and liquidates everything.
    """
    async with FaultProxy(devnet.url) as proxy, ChainClient(devnet.url) as chain:
        keeper = await Keeper.start(proxy.ws_url, tmp_path, KEEPER_POLL_INTERVAL_S="5")
        try:
            assert await proxy.drop_websockets() >= 1
            shock = await shock_price(
                chain, devnet.world.market.pool_addresses_provider, "WETH", -30
            )
            await keeper.daemon.wait_event("liquidation_attempt", 60)
            await proxy.drop_websockets()
            assert_clean(await run_to_clean_end(chain, devnet, keeper, shock.block))
        finally:
            await _stop(keeper)


@pytest.mark.asyncio
async def test_reorg_removes_our_mined_liquidation(devnet, tmp_path):
    """After the keeper's liquidations are mined, the chain rolls back below them and grows
    new blocks: the keeper sees the reorg, forgets the lost transactions, resyncs its nonce and
    liquidates again in the new branch, with no nonce gap and no duplicate.
    """
    async with ChainClient(devnet.url) as chain:
        keeper = await Keeper.start(devnet.url, tmp_path)
        try:
            shock = await shock_price(
                chain, devnet.world.market.pool_addresses_provider, "WETH", -30
            )
            wanted = await liquidatable(chain, devnet, shock.block)
            await wait_liquidated(chain, devnet, wanted, shock.block)
            # Follow-up liquidations settled and nothing in flight (a loaded machine can take
            # seconds): the rollback then removes only mined transactions of ours.
            await wait_quiet(chain, keeper)
            head = await chain.block_number()
            await chain.request("anvil_rollback", [head - shock.block])  # back to the shock
            for _ in range(3):
                await chain.request("evm_mine", [])
            await keeper.daemon.wait_event("transaction_reorged_out", 30)
            assert_clean(await run_to_clean_end(chain, devnet, keeper, shock.block))
        finally:
            await _stop(keeper)


@pytest.mark.asyncio
async def test_base_fee_spike_strands_our_transaction_then_replaced_and_mined(devnet, tmp_path):
    """Automine off: our liquidation waits in the pool when the base fee jumps above its max
    fee; blocks pass without it; the keeper replaces it with higher fees and it is mined.
    """
    async with ChainClient(devnet.url) as chain:
        await chain.request("evm_setAutomine", [False])
        keeper = await Keeper.start(devnet.url, tmp_path)
        try:
            await shock_price_unmined(chain, devnet, "WETH", -30)
            await chain.request("evm_mine", [])
            await _sent(keeper, "liquidation")  # with its approval, both in the pool
            await chain.request("anvil_setNextBlockBaseFeePerGas", [hex(50 * 10**9)])
            for _ in range(3):
                await chain.request("evm_mine", [])
                await asyncio.sleep(0.3)
            await keeper.daemon.wait_event("transaction_replaced", 30)
            await _automine_to_clean_end(chain, devnet, keeper)
        finally:
            await _stop(keeper)


@pytest.mark.asyncio
async def test_our_transaction_dropped_from_the_pool_is_rebroadcast(devnet, tmp_path):
    """Automine off: the node drops our pending liquidation (anvil_dropTransaction); the
    keeper notices the node no longer knows it and broadcasts the same bytes again.
    """
    async with ChainClient(devnet.url) as chain:
        await chain.request("evm_setAutomine", [False])
        keeper = await Keeper.start(devnet.url, tmp_path)
        try:
            await shock_price_unmined(chain, devnet, "WETH", -30)
            await chain.request("evm_mine", [])
            sent = await _sent(keeper, "liquidation")
            await chain.request("anvil_dropTransaction", [sent["tx_hash"]])
            await chain.request("evm_mine", [])  # its approval, still in the pool
            await keeper.daemon.wait_event("rebroadcast", 30, tx_hash=sent["tx_hash"])
            await chain.request("evm_mine", [])
            receipt = await chain.get_receipt(sent["tx_hash"])
            assert receipt is not None and int(receipt["status"], 16) == 1
            await _automine_to_clean_end(chain, devnet, keeper)
        finally:
            await _stop(keeper)


@pytest.mark.asyncio
async def test_a_nonce_taken_outside_the_keeper(devnet, tmp_path):
    """After the keeper started, another program sends a transaction from the same key: the
    keeper's first send meets "nonce too low", resyncs and goes on, with no gap.
    """
    async with ChainClient(devnet.url) as chain:
        keeper = await Keeper.start(devnet.url, tmp_path)
        try:
            await chain.request(
                "eth_sendTransaction",
                [{"from": KEEPER_ADDRESS, "to": KEEPER_ADDRESS, "value": "0x1"}],
            )
            shock = await shock_price(
                chain, devnet.world.market.pool_addresses_provider, "WETH", -30
            )
            await keeper.daemon.wait_event("send_refused_retrying", 30)
            assert_clean(await run_to_clean_end(chain, devnet, keeper, shock.block))
        finally:
            await _stop(keeper)


@pytest.mark.asyncio
async def test_a_competitor_liquidates_first_with_a_higher_tip(devnet, tmp_path):
    """Automine off: while our liquidation waits in the pool, a competitor liquidates the same
    account with a higher tip: ours is recorded as lost (one reverted transaction, no more),
    the keeper does not try that account again at once, and liquidates every other one.
    """
    async with ChainClient(devnet.url) as chain:
        await competitor_ready(chain, devnet)
        await chain.request("evm_setAutomine", [False])
        keeper = await Keeper.start(devnet.url, tmp_path)
        try:
            await shock_price_unmined(chain, devnet, "WETH", -30)
            await chain.request("evm_mine", [])
            ours = await _sent(keeper, "liquidation")
            tx = await chain.request("eth_getTransactionByHash", [ours["tx_hash"]])
            plan_account = ours["account"]
            collateral, debt = _pair_of(tx["input"])
            await competitor_liquidates(
                chain, devnet.world.market.pool, collateral, debt, plan_account
            )
            await chain.request("evm_mine", [])

            async def lost_seen() -> bool:
                return bool(
                    [
                        e
                        for e in keeper.daemon.events("liquidation_attempt")
                        if e.get("outcome") == "lost"
                    ]
                )

            await _until(lost_seen, 30, mine=chain)  # the revocation of our approval is mined
            lost = await keeper.daemon.wait_event("liquidation_attempt", 5, outcome="lost")
            assert lost["account"] == plan_account and lost["winner_tx"]
            await chain.request("evm_setAutomine", [True])
            shock_block = await _shock_block(chain, devnet)
            wanted = await liquidatable(chain, devnet, shock_block) - {plan_account}
            done = await wait_liquidated(chain, devnet, wanted, shock_block, mine=True)
            assert done >= wanted
            found = await run_to_clean_end_relaxed(chain, devnet, keeper)
            # Ours for the raced account reverts, and nothing else: the revocation of its
            # approval must not land between another plan's approval and liquidation.
            assert_clean(found, reverted_allowed=1)
            assert ours["tx_hash"] in found.reverted
        finally:
            await _stop(keeper)


@pytest.mark.asyncio
async def test_stale_zero_and_negative_feeds_trip_the_breakers_and_nothing_is_sent(
    devnet, tmp_path
):
    """A WETH feed answering 0, then -1, trips bad_price; feeds silent for longer than their
    heartbeat trip stale_feed; while either holds, a shock liquidates nothing. When the feeds
    answer again, the breakers clear and the keeper liquidates.
    """
    async with ChainClient(devnet.url) as chain:
        keeper = await Keeper.start(devnet.url, tmp_path, KEEPER_ORACLE_HEARTBEAT_S="3600")
        try:
            weth = await _answer(chain, devnet, "WETH")
            start = await chain.block_number()
            await _set_feed(chain, devnet, "WETH", 0)
            await keeper.daemon.wait_event("breaker_tripped", 30, breaker="bad_price")
            await _set_feed(chain, devnet, "WETH", -1)
            await asyncio.sleep(0.5)
            assert keeper.daemon.proc is not None and keeper.daemon.proc.returncode is None
            await chain.request("evm_increaseTime", [7200])
            await _set_feed(chain, devnet, "WETH", weth * 70 // 100)  # the shock, other feeds stale
            await keeper.daemon.wait_event("breaker_tripped", 30, breaker="stale_feed")
            await asyncio.sleep(1.0)
            assert await liquidation_events(chain, devnet.world.market.pool, start) == []
            shock_block = await chain.block_number()
            for symbol in [s for s in devnet.world.market.assets if s != "WETH"]:
                await _set_feed(chain, devnet, symbol, await _answer(chain, devnet, symbol))
            await keeper.daemon.wait_event("breaker_cleared", 30, breaker="stale_feed")
            assert any(e["breaker"] == "bad_price" for e in keeper.daemon.events("breaker_cleared"))
            assert_clean(await run_to_clean_end(chain, devnet, keeper, shock_block))
        finally:
            await _stop(keeper)


@pytest.mark.asyncio
async def test_gas_money_runs_out(devnet, tmp_path):
    """The keeper's native balance is almost nothing: a low-gas alert, sends refused by the
    node, no crash; once funded again it liquidates everything.
    """
    async with ChainClient(devnet.url) as chain:
        await chain.request("anvil_setBalance", [KEEPER_ADDRESS, hex(10**12)])
        keeper = await Keeper.start(devnet.url, tmp_path, KEEPER_FAILED_PLAN_COOLDOWN_BLOCKS="2")
        try:
            await keeper.daemon.wait_event("alert", 30, kind="low_gas")
            shock = await shock_price(
                chain, devnet.world.market.pool_addresses_provider, "WETH", -30
            )
            await keeper.daemon.wait_event("liquidation_attempt", 30, outcome="error")
            assert keeper.daemon.proc is not None and keeper.daemon.proc.returncode is None
            await chain.request("anvil_setBalance", [KEEPER_ADDRESS, hex(100 * 10**18)])
            found = await run_to_clean_end(chain, devnet, keeper, shock.block, mine=True)
            assert_clean(found)
        finally:
            await _stop(keeper)


async def shock_price_unmined(chain: ChainClient, devnet: Any, symbol: str, pct: int) -> None:
    """Queue a price move by ``pct``% (automine off: mined with the next block)."""
    await _set_feed(
        chain, devnet, symbol, await _answer(chain, devnet, symbol) * (100 + pct) // 100
    )


async def _shock_block(chain: ChainClient, devnet: Any) -> int:
    """The block of the newest AnswerUpdated of any feed."""
    feeds = [a.feed for a in devnet.world.market.assets.values()]
    logs = await chain.get_logs(
        address=feeds,
        topics=[FEED.topic("AnswerUpdated")],
        from_block=0,
        to_block=await chain.block_number(),
    )
    return max(int(entry["blockNumber"], 16) for entry in logs)


def _pair_of(calldata: str) -> tuple[str, str]:
    """(collateral, debt) of a liquidationCall's calldata."""
    words = calldata[10:]
    return "0x" + words[24:64], "0x" + words[88:128]


async def run_to_clean_end_relaxed(chain: ChainClient, devnet: Any, keeper: Keeper) -> Any:
    """The invariants once the keeper is quiet (the race scenario has one lost account)."""
    await wait_quiet(chain, keeper, mine=True)
    assert await keeper.healthz() == 200
    return await check_invariants(chain, devnet, keeper.journal)
