"""``keeper demo``: a local Aave V3 market, borrowers, a price shock, and the keeper at work."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from keeper.app import BlockReport, run_keeper
from keeper.chain.client import ChainClient
from keeper.core.display import format_base, format_wad
from keeper.devnet.liquidator import deploy_keeper_liquidator
from keeper.devnet.scenarios import fund_keeper, shock_price
from keeper.devnet.world import World, build_world
from keeper.errors import KeeperError
from keeper.localnode.anvil import CHAIN_ID, DEV_ACCOUNTS, DEV_KEYS, Anvil
from keeper.protocols.aave_v3.liquidation import value_in_base
from keeper.protocols.aave_v3.market import Market, resolve_market
from keeper.protocols.aave_v3.reads import read_account_data
from keeper.protocols.aave_v3.state_reader import read_prices
from keeper.settings import load_settings

if TYPE_CHECKING:
    from collections.abc import Callable

    from keeper.core.outcome import Outcome
    from keeper.devnet.world import AaveVersion

KEEPER_ADDRESS, KEEPER_KEY = DEV_ACCOUNTS[1], DEV_KEYS[1]
WAD = 10**18
SETTLE_TIMEOUT_S = 120.0
MIN_PROFIT_USD = Decimal(1)
MIN_PROFIT_BASE = int(MIN_PROFIT_USD * 10**8)


async def _liquidatable(
    client: ChainClient, market: Market, world: World, block: int, min_collateral_base: int = 0
) -> list[str]:
    data, _ = await read_account_data(client, market, world.borrowers, block, 200)
    return [
        a
        for a, d in data.items()
        if d.health_factor < WAD and d.total_collateral_base > min_collateral_base
    ]


async def demo(
    url: str,
    *,
    borrowers: int,
    seed: int,
    symbol: str,
    pct: Decimal,
    say: Callable[[str], None],
    journal: Path,
    aave: AaveVersion = "3.6",
) -> int:
    """Run the whole story against the Anvil at ``url``; return the exit code."""
    t_start = time.perf_counter()
    async with ChainClient(url) as client:
        world = await build_world(client, borrowers=borrowers, seed=seed, aave=aave)
        market = await resolve_market(client, world.market.pool_addresses_provider)
        by_symbol = {s: a.address for s, a in world.market.assets.items()}
        await fund_keeper(client, world.market, KEEPER_ADDRESS)
        # Inventory liquidations go through our contract (owned by the keeper, the market's
        # tokens approved to it once): a lost race stops early and cheaply.
        liquidator = await deploy_keeper_liquidator(client, world, KEEPER_ADDRESS)
        head = await client.block_number()
        data, _ = await read_account_data(client, market, world.borrowers, head, 200)
        near = sum(1 for d in data.values() if d.health_factor < 11 * WAD // 10)
        say(
            f"[{time.perf_counter() - t_start:5.1f}s] Aave v{market.rules.version.value} market "
            f"deployed at {world.market.pool} (Aave's own code; the keeper read its version "
            f"from POOL_REVISION), {len(world.borrowers)} borrowers, "
            f"{near} with health factor below 1.1",
        )

        settings = load_settings(
            rpc_url=url,
            pool_addresses_provider=world.market.pool_addresses_provider,
            private_key=KEEPER_KEY,
            chain_id=CHAIN_ID,
            poll_interval_s=0.1,
            min_profit_usd=MIN_PROFIT_USD,
            journal_path=str(journal),
            flash_liquidator=liquidator,
        )
        # The demo needs no ops endpoint: never a fixed port that may be taken.
        settings = settings.model_copy(update={"ops_port": None})
        reports: asyncio.Queue[BlockReport] = asyncio.Queue()
        stop = asyncio.Event()
        keeper = asyncio.create_task(run_keeper(settings, stop, reports.put_nowait))
        try:
            first = await asyncio.wait_for(reports.get(), 30)
            say(
                f"[{time.perf_counter() - t_start:5.1f}s] keeper {KEEPER_ADDRESS} follows "
                f"block {first.block}: {first.accounts} borrowers tracked, "
                f"{first.candidates} liquidatable",
            )
            shock = await shock_price(client, world.market.pool_addresses_provider, symbol, pct)
            hit = await _liquidatable(client, market, world, shock.block)
            say(
                f"[{time.perf_counter() - t_start:5.1f}s] price shock: {symbol} "
                f"{format_base(shock.old_answer)} -> {format_base(shock.new_answer)} USD "
                f"({pct}%) at block {shock.block}: {len(hit)} accounts now liquidatable",
            )
            outcomes = await _settle(reports, shock.block, keeper, say, t_start)
        finally:
            stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(keeper, 30)
        if keeper.done() and keeper.exception() is not None:
            raise keeper.exception()  # type: ignore[misc]
        head = await client.block_number()
        remaining = await _liquidatable(client, market, world, head, MIN_PROFIT_BASE)
        dust = await _liquidatable(client, market, world, head)
        prices = await read_prices(client, market, list(by_symbol.values()), head)
        _summary(
            say,
            world=world,
            outcomes=outcomes,
            prices=prices,
            hit=hit,
            remaining=remaining,
            bad_debt=len(dust) - len(remaining),
        )
        say(f"\ndone in {time.perf_counter() - t_start:.1f}s")
        ok = bool(outcomes) and not remaining and all(o.status == "liquidated" for o in outcomes)
        return 0 if ok else 1


async def _settle(
    reports: asyncio.Queue[BlockReport],
    shock_block: int,
    keeper: asyncio.Task[None],
    say: Callable[[str], None],
    t_start: float,
) -> list[Outcome]:
    """Collect outcomes until the keeper processes a post-shock block with nothing to do."""
    outcomes: list[Outcome] = []
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        if keeper.done():
            raise KeeperError("the keeper stopped unexpectedly")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise KeeperError(f"liquidations did not settle within {SETTLE_TIMEOUT_S}s")
        try:
            report = await asyncio.wait_for(reports.get(), remaining)
        except TimeoutError:
            continue
        if report.block < shock_block:
            continue
        for o in report.outcomes:
            outcomes.append(o)
            say(
                f"[{time.perf_counter() - t_start:5.1f}s] {o.status}: {o.plan.account} "
                f"(HF {format_wad(o.plan.health_factor)[:6]}) tx {o.tx_hash} "
                f"gas {o.gas_used}",
            )
        if report.plans == 0:
            return outcomes


def _summary(
    say: Callable[[str], None],
    *,
    world: World,
    outcomes: list[Outcome],
    prices: dict[str, int],
    hit: list[str],
    remaining: list[str],
    bad_debt: int,
) -> None:
    info = {a.address: a for a in world.market.assets.values()}
    repaid: dict[str, int] = defaultdict(int)
    seized: dict[str, int] = defaultdict(int)
    gas_wei = 0
    for o in outcomes:
        repaid[o.plan.spend.asset] += o.spent
        seized[o.plan.receive.asset] += o.received
        gas_wei += o.gas_cost_wei
    repaid_usd = sum(value_in_base(v, prices[a], info[a].decimals) for a, v in repaid.items())
    seized_usd = sum(value_in_base(v, prices[a], info[a].decimals) for a, v in seized.items())
    eth_price = prices[world.market.assets["WETH"].address]
    gas_usd = gas_wei * eth_price // 10**18
    liquidated = {o.plan.account for o in outcomes if o.status == "liquidated"}

    def amounts(d: dict[str, int]) -> str:
        return (
            ", ".join(
                f"{Decimal(v) / 10 ** info[a].decimals:.4f} {info[a].symbol}"
                for a, v in sorted(d.items(), key=lambda kv: info[kv[0]].symbol)
            )
            or "-"
        )

    rows = [
        ("accounts made liquidatable by the shock", str(len(hit))),
        ("accounts liquidated", str(len(liquidated))),
        ("liquidation transactions", str(sum(1 for o in outcomes if o.status == "liquidated"))),
        ("still liquidatable (collateral over $1)", str(len(remaining))),
        ("left as bad debt (collateral dust only)", str(bad_debt)),
        ("debt repaid", amounts(repaid)),
        ("debt repaid (USD)", format_base(repaid_usd)),
        ("collateral seized", amounts(seized)),
        ("collateral seized (USD)", format_base(seized_usd)),
        ("gas spent (USD at the WETH price)", format_base(gas_usd)),
        (
            "profit after gas (USD)",
            format_base(seized_usd - repaid_usd - gas_usd)
            if seized_usd - repaid_usd - gas_usd >= 0
            else "-" + format_base(gas_usd + repaid_usd - seized_usd),
        ),
    ]
    width = max(len(k) for k, _ in rows)
    say("\nsummary")
    say("-" * (width + 40))
    for key, value in rows:
        say(f"{key:<{width}}  {value}")
    say("-" * (width + 40))


def run_demo(
    borrowers: int,
    seed: int,
    symbol: str,
    pct: Decimal,
    say: Callable[[str], None],
    aave: AaveVersion = "3.6",
    protocol: str = "aave_v3",
) -> int:
    """Start a devnet, run the demo on it (Aave ``aave``, or Morpho Blue), always stop it."""
    with Anvil() as anvil, tempfile.TemporaryDirectory(prefix="keeper-demo-") as tmp:
        say(f"Anvil devnet on {anvil.url} (pid {anvil.pid})")
        if protocol == "morpho_blue":
            from keeper.demo_morpho import demo_morpho  # noqa: PLC0415 - only for this demo

            return asyncio.run(
                demo_morpho(
                    anvil.url,
                    borrowers=borrowers,
                    seed=seed,
                    symbol=symbol,
                    pct=pct,
                    say=say,
                    journal=Path(tmp) / "journal.sqlite",
                )
            )
        return asyncio.run(
            demo(
                anvil.url,
                borrowers=borrowers,
                seed=seed,
                symbol=symbol,
                pct=pct,
                say=say,
                journal=Path(tmp) / "journal.sqlite",
                aave=aave,
            )
        )
