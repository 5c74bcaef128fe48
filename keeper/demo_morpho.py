"""``keeper demo --protocol morpho_blue``: Morpho markets, a price shock, zero-capital liquidations.

A fresh Anvil gets Morpho Blue 1.0.0 (its own bytecode), six markets (four priced by
``OracleMock``, two through Chainlink-style feeds), borrowers near their LLTV and Uniswap V3
pools; the keeper, holding only gas money, deploys its MorphoLiquidator (as `keeper
deploy-liquidator` does) and runs in flash mode. The asset's price moves in one block in every
market and feed that holds it (as collateral by ``pct``, as the loan token the other way); the
keeper liquidates every position Morpho lets be liquidated, and the summary says what it
earned. The Uniswap pools keep trading at the prices before the shock (no arbitrageur moves
them), which is why the profits are large.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from decimal import Decimal
from typing import TYPE_CHECKING

from keeper.app import BlockReport, run_keeper
from keeper.chain.client import ChainClient
from keeper.devnet.deployer import Deployer
from keeper.devnet.morpho_scenarios import shock_asset
from keeper.devnet.morpho_world import MorphoWorld, build_morpho_world
from keeper.errors import DevnetError, KeeperError
from keeper.localnode.anvil import CHAIN_ID, DEV_ACCOUNTS, DEV_KEYS
from keeper.protocols.morpho_blue.deploy import deploy_liquidator
from keeper.protocols.morpho_blue.receipts import liquidate_logs
from keeper.protocols.morpho_blue.tracker import MorphoTracker
from keeper.settings import load_settings

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from keeper.core.outcome import Outcome

KEEPER_ADDRESS, KEEPER_KEY = DEV_ACCOUNTS[1], DEV_KEYS[1]
WAD = 10**18
SETTLE_TIMEOUT_S = 120.0
MIN_PROFIT_USD = Decimal(1)


async def _unhealthy(client: ChainClient, world: MorphoWorld) -> list[tuple[str, str]]:
    """(market, account) of every position below health 1 with collateral, read afresh."""
    tracker = MorphoTracker(client, world.morpho, start_block=world.deployment.block)
    await tracker.start()
    markets = tracker.state.markets
    return [
        (m, a)
        for m, a, p in tracker.borrowers()
        if (tracker.health(m, a) or WAD) < WAD and p.collateral > 0 and m in markets
    ]


async def demo_morpho(
    url: str,
    *,
    borrowers: int,
    seed: int,
    symbol: str,
    pct: Decimal,
    say: Callable[[str], None],
    journal: Path,
) -> int:
    """Run the whole story against the Anvil at ``url``; return the exit code."""
    t0 = time.perf_counter()

    def stamp() -> str:
        return f"[{time.perf_counter() - t0:5.1f}s]"

    async with ChainClient(url) as client:
        world = await build_morpho_world(client, borrowers=borrowers, seed=seed)
        uni = world.uniswap
        if uni is None:  # pragma: no cover - build_morpho_world deploys it by default
            raise DevnetError("the Morpho devnet has no Uniswap V3")
        labels = ", ".join(m.label for m in world.deployment.markets)
        say(
            f"{stamp()} Morpho Blue 1.0.0 deployed at {world.morpho} (its own bytecode): "
            f"markets {labels}; {len(world.borrowers)} borrowers; Uniswap V3 pools per pair"
        )
        await Deployer(client).set_balance(KEEPER_ADDRESS, 10 * WAD)
        settings = load_settings(
            rpc_url=url,
            protocol="morpho_blue",
            morpho=world.morpho,
            start_block=world.deployment.block,
            private_key=KEEPER_KEY,
            chain_id=CHAIN_ID,
            poll_interval_s=0.1,
            min_profit_usd=MIN_PROFIT_USD,
            journal_path=str(journal),
            execution_mode="flash",
            uniswap_quoter=uni.quoter,
        )
        contract = await deploy_liquidator(settings, uni.router)
        # The demo needs no ops endpoint: never a fixed port that may be taken.
        settings = settings.model_copy(update={"ops_port": None, "flash_liquidator": contract})
        say(f"{stamp()} keeper {KEEPER_ADDRESS} (gas money only) deployed MorphoLiquidator")
        say(f"{stamp()} MorphoLiquidator at {contract}, owned by the keeper")
        reports: asyncio.Queue[BlockReport] = asyncio.Queue()
        stop = asyncio.Event()
        keeper = asyncio.create_task(run_keeper(settings, stop, reports.put_nowait))
        try:
            first = await asyncio.wait_for(reports.get(), 60)
            say(
                f"{stamp()} keeper follows block {first.block}: {first.accounts} borrowers, "
                f"{first.candidates} liquidatable"
            )
            shock = await shock_asset(client, world, symbol, pct)
            hit = await _unhealthy(client, world)
            say(
                f"{stamp()} price shock: {symbol} {pct}% at block {shock}: "
                f"{len(hit)} positions liquidatable"
            )
            outcomes = await _settle(reports, shock, keeper, say, stamp)
        finally:
            stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(keeper, 30)
        if keeper.done() and keeper.exception() is not None:
            raise keeper.exception()  # type: ignore[misc]
        remaining = await _unhealthy(client, world)
        events = await liquidate_logs(client, world.morpho, shock, await client.block_number())
        _summary(say, world, outcomes, hit, remaining, sum(1 for e in events if e.bad_debt_shares))
        say(f"\ndone in {time.perf_counter() - t0:.1f}s")
        liquidated = [o for o in outcomes if o.status == "liquidated"]
        return 0 if liquidated and not remaining and len(liquidated) == len(outcomes) else 1


async def _settle(
    reports: asyncio.Queue[BlockReport],
    shock_block: int,
    keeper: asyncio.Task[None],
    say: Callable[[str], None],
    stamp: Callable[[], str],
) -> list[Outcome]:
    """Collect outcomes until the keeper processes a post-shock block with nothing to do."""
    outcomes: list[Outcome] = []
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        if keeper.done():
            raise KeeperError("the keeper stopped unexpectedly")
        left = deadline - time.monotonic()
        if left <= 0:
            raise KeeperError(f"liquidations did not settle within {SETTLE_TIMEOUT_S}s")
        try:
            report = await asyncio.wait_for(reports.get(), left)
        except TimeoutError:
            continue
        if report.block < shock_block:
            continue
        for o in report.outcomes:
            outcomes.append(o)
            say(f"{stamp()} {o.status}: {o.plan.account} tx {o.tx_hash}")
        if report.block > shock_block and report.candidates == 0:
            return outcomes


def _summary(
    say: Callable[[str], None],
    world: MorphoWorld,
    outcomes: list[Outcome],
    hit: list[tuple[str, str]],
    remaining: list[tuple[str, str]],
    bad_debts: int,
) -> None:
    symbols = {t.address: t for t in world.deployment.tokens.values()}
    profit: dict[str, int] = defaultdict(int)
    for o in outcomes:
        if o.realized_profit is not None:
            profit[o.plan.spend.asset] += o.realized_profit
    earned = ", ".join(
        f"{Decimal(v) / 10 ** symbols[a].decimals:.4f} {symbols[a].symbol}"
        for a, v in sorted(profit.items(), key=lambda kv: symbols[kv[0]].symbol)
    )
    rows = [
        ("positions made liquidatable by the shock", str(len(hit))),
        ("liquidation transactions", str(sum(1 for o in outcomes if o.status == "liquidated"))),
        ("bad debt realised (collateral exhausted)", str(bad_debts)),
        ("still liquidatable", str(len(remaining))),
        ("profit paid to the keeper (loan tokens)", earned or "-"),
    ]
    width = max(len(k) for k, _ in rows)
    say("\nsummary")
    say("-" * (width + 40))
    for key, value in rows:
        say(f"{key:<{width}}  {value}")
    say("-" * (width + 40))
