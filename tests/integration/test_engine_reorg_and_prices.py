"""Reorgs leave the engine equal to a fresh rebuild; price updates cost no RPC call."""

from __future__ import annotations

import pytest

from keeper.chain.client import ChainClient
from keeper.devnet.borrowers import MarketActions, borrower_address
from keeper.devnet.deployer import Deployer
from keeper.devnet.scenarios import FEED
from keeper.protocols.aave_v3.market import resolve_market
from keeper.protocols.aave_v3.monitor import MarketMonitor
from keeper.settings import load_settings

pytestmark = pytest.mark.integration


async def _monitor(client: ChainClient, devnet) -> MarketMonitor:
    market = await resolve_market(client, devnet.world.market.pool_addresses_provider)
    settings = load_settings(rpc_url=devnet.url, pool_addresses_provider=market.addresses_provider)
    monitor = MarketMonitor(client, market, settings)
    await monitor.start()
    return monitor


async def _open(actions: MarketActions, dep: Deployer, who: str, supply: str, borrow: str) -> None:
    await dep.set_balance(who, 10**18)
    await actions.supply(
        who,
        supply,
        10 * 10 ** actions.market.assets[supply].decimals if supply != "USDC" else 50_000 * 10**6,
    )
    await actions.borrow(
        who,
        borrow,
        1_000 * 10**6 if borrow == "USDC" else 10 ** (actions.market.assets[borrow].decimals - 2),
    )


@pytest.mark.asyncio
@pytest.mark.parametrize("method", ["anvil_rollback", "anvil_reorg"])
async def test_reorg_state_equals_fresh_rebuild(devnet, method):
    """Blocks the engine has applied are orphaned (rolled back, or replaced by an Anvil reorg)
    and a different history follows: the engine detects the parent-hash mismatch, forgets the
    orphaned accounts, re-reads the touched ones, and then equals a monitor built from scratch.
    """
    async with ChainClient(devnet.url) as client:
        dep = Deployer(client)
        await dep.impersonate_all()
        actions = MarketActions(dep, devnet.world.market)
        monitor = await _monitor(client, devnet)
        base = monitor.block
        orphan = borrower_address(4242, 0)
        victim = devnet.world.borrowers[0]
        await _open(actions, dep, orphan, "WETH", "USDC")
        await actions.supply(victim, "USDC", 1_234 * 10**6)
        step = await monitor.step()
        assert step is not None and orphan in monitor.engine.data
        depth = step.block - base
        if method == "anvil_rollback":
            await client.request("anvil_rollback", [depth])
        else:
            await client.request("anvil_reorg", [depth, []])
        survivor = borrower_address(4242, 1)
        await _open(actions, dep, survivor, "WBTC", "WETH")
        weth = devnet.world.asset("WETH")
        await dep.transact(devnet.world.admin, weth.feed, FEED.encode("setAnswer", 2_900 * 10**8))
        step = await monitor.step()
        assert step is not None and step.reorg_ancestor is not None
        assert step.reorg_ancestor <= base + (depth if method == "anvil_reorg" else 0)
        assert orphan not in monitor.engine.data and orphan not in monitor.tracker.first_seen
        assert survivor in monitor.engine.data
        fresh = await _monitor(client, devnet)
        assert fresh.block == monitor.block
        assert monitor.engine.data == fresh.engine.data
        assert set(monitor.tracker.accounts) == set(fresh.tracker.accounts)
        assert monitor.tracker.prices == fresh.tracker.prices


@pytest.mark.asyncio
async def test_price_update_recomputes_only_exposed_accounts_without_rpc(devnet):
    """A feed's new answer recomputes exactly the accounts holding that asset (collateral or
    debt) and makes no request to the node; after the block is applied, those accounts equal
    getUserAccountData.
    """
    async with ChainClient(devnet.url) as client:
        monitor = await _monitor(client, devnet)
        engine = monitor.engine
        wbtc = devnet.world.asset("WBTC")
        exposed = engine.exposed(wbtc.address)
        assert 0 < len(exposed) < len(engine.data)
        before_calls = dict(client.calls)
        before_count = engine.recomputed
        before = {a: engine.data[a] for a in engine.data}
        changed = engine.on_price(wbtc.address, 45_000 * 10**8)
        assert dict(client.calls) == before_calls, "a price update must not touch the node"
        assert changed == exposed
        assert engine.recomputed - before_count == len(exposed)
        for account, data in engine.data.items():
            if account not in exposed:
                assert data is before[account]
        moved = [a for a in exposed if engine.data[a].health_factor != before[a].health_factor]
        assert moved
        await Deployer(client).transact(
            devnet.world.admin, wbtc.feed, FEED.encode("setAnswer", 45_000 * 10**8)
        )
        step = await monitor.step()
        assert step is not None and step.price_updates == 1
        onchain = await monitor.reconcile(sorted(exposed))
        assert all(engine.data[a] == onchain[a] for a in exposed)
        assert monitor.mismatches == 0


@pytest.mark.asyncio
async def test_reconciliation_logs_and_counts_a_difference(devnet):
    """If local state ever differs from the Pool (here: a corrupted balance), reconciliation
    logs an error with both values and counts it.
    """
    from structlog.testing import capture_logs

    async with ChainClient(devnet.url) as client:
        monitor = await _monitor(client, devnet)
        account = devnet.world.borrowers[0]
        state = monitor.engine.accounts[account]
        index = next(iter(state.scaled_collateral))
        state.scaled_collateral[index] += 10**6
        monitor.engine.upsert([state])
        with capture_logs() as logs:
            await monitor.reconcile([account, devnet.world.borrowers[1]])
        assert monitor.mismatches == 1
        (event,) = [e for e in logs if e["event"] == "health_mismatch"]
        assert event["log_level"] == "error" and event["account"] == account
        assert event["local"] != event["onchain"]


@pytest.mark.asyncio
async def test_a_step_that_fails_mid_block_reads_the_block_again(devnet):
    """A node fault after the head was followed but before the block's logs and reads were
    applied (here: the logs request fails once): the step raises, and the next step reads the
    same block again (its Borrow applied, the borrower equal to getUserAccountData), instead of
    finding no new block and leaving the borrow out for good.
    """
    from keeper.errors import TransientRpcError
    from keeper.protocols.aave_v3.reads import read_account_data

    async with ChainClient(devnet.url) as client:
        dep = Deployer(client)
        await dep.impersonate_all()
        actions = MarketActions(dep, devnet.world.market)
        monitor = await _monitor(client, devnet)
        newcomer = borrower_address(4343, 0)
        await _open(actions, dep, newcomer, "WETH", "USDC")
        real_fetch = monitor.tracker.logs.fetch
        calls = 0

        async def failing_once(*args, **kwargs):
            nonlocal calls
            calls += 1
            if calls == 1:
                raise TransientRpcError("read timed out", method="eth_getLogs")
            return await real_fetch(*args, **kwargs)

        monitor.tracker.logs.fetch = failing_once  # type: ignore[method-assign]
        with pytest.raises(TransientRpcError):
            await monitor.step()
        step = await monitor.step()
        assert step is not None and calls == 2
        assert newcomer in monitor.engine.data
        onchain, _ = await read_account_data(client, monitor.market, [newcomer], monitor.block, 10)
        assert monitor.engine.data[newcomer] == onchain[newcomer]
        assert monitor.engine.data[newcomer].total_debt_base > 0


@pytest.mark.asyncio
async def test_a_reorg_deeper_than_remembered_is_typed_and_bounded(devnet):
    """A reorg below the oldest block the monitor remembers rebuilds the state and says so:
    the step is marked ``deep_reorg`` and names the block below the oldest one remembered as
    the ancestor (the journal then re-checks our transactions above it), never a sentinel that
    meant "rescan every transaction ever journaled".
    """
    async with ChainClient(devnet.url) as client:
        monitor = await _monitor(client, devnet)
        monitor.heads.depth = 4  # remember only the last four blocks
        for _ in range(6):
            await client.request("evm_mine", [])
            await monitor.step()
        oldest = next(iter(monitor.heads.snapshot()[0]))
        head = monitor.block
        await client.request("anvil_reorg", [6, []])
        step = await monitor.step()
        assert step is not None and step.deep_reorg
        assert step.reorg_ancestor == oldest - 1
        assert 0 < head - step.reorg_ancestor <= 5
