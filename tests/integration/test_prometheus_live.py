"""The dashboard and the alert rules against a real Prometheus scraping a running keeper."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from keeper.chain.client import ChainClient
from keeper.devnet.scenarios import shock_price
from keeper.localnode.anvil import free_port
from tests.support.daemon import Daemon, keeper_env
from tests.support.prometheus import Prometheus, prometheus_binary

pytestmark = pytest.mark.integration
DASHBOARD = Path(__file__).resolve().parents[2] / "deploy/grafana/dashboards/keeper.json"
# Queries that may rightly answer no series on a healthy devnet run, and why. Every other panel
# query must return data.
MAY_BE_EMPTY = {
    "sum by (reason) (rate(keeper_liquidation_skips_total[5m]))": (
        "skips are counted by reason only once one happens; after the shock every liquidatable "
        "account may be liquidated with none skipped"
    ),
    "sum by (method) (rate(keeper_rpc_errors_total[5m]))": (
        "RPC errors are counted by method only once one happens; the devnet node answers all"
    ),
    "keeper_breaker_tripped": (
        "a breaker's gauge appears when it first trips or clears; none trips on the devnet"
    ),
}


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every target of the shipped dashboard."""
    dashboard = json.loads(DASHBOARD.read_text())
    return [(p["title"], t["expr"]) for p in dashboard["panels"] for t in p["targets"]]


@pytest.mark.asyncio
async def test_every_dashboard_query_and_alert_rule_works_on_a_live_keeper(devnet, tmp_path):
    """Prometheus (the shipped prometheus.yml and alerts.yml, on a free loopback port) scrapes a
    `keeper run` process (its ops endpoint on another free port) through a price shock it
    liquidates. Then every dashboard query parses and returns data, except the ones listed in
    MAY_BE_EMPTY (which still parse); every alert rule is evaluated with health "ok" and no
    error, its expression also runs as a query, and none fires on this healthy keeper.
    Both processes are stopped at the end, pass or fail.
    """
    prometheus_binary()  # skip (or fail in CI) before starting anything
    ops_port = free_port()
    daemon = Daemon(
        ["-m", "keeper", "run"], keeper_env(devnet.url, tmp_path / "journal.sqlite", ops_port)
    )
    await daemon.start()
    try:
        await daemon.wait_event("block_checked")
        async with Prometheus(tmp_path / "prometheus", f"127.0.0.1:{ops_port}") as prom:
            up = await prom.until('up{job="keeper"} == 1')
            assert up[0]["metric"]["instance"] == f"127.0.0.1:{ops_port}"
            await prom.until("count(keeper_head_block) > 0")
            async with ChainClient(devnet.url) as chain:
                await shock_price(chain, devnet.world.market.pool_addresses_provider, "WETH", -30)
            await daemon.wait_event("liquidation_attempt", outcome="liquidated")
            # Scraped after the liquidation, and once more, so every rate has two samples.
            await prom.until(
                'increase(keeper_liquidation_attempts_total{outcome="liquidated"}[1m]) > 0'
            )
            await prom.until(
                "count(histogram_quantile(0.5, rate("
                "keeper_reaction_latency_seconds_bucket[15m])) >= 0) > 0"
            )
            for title, expr in dashboard_queries():
                result = await prom.query(expr)  # raises on a parse or evaluation error
                assert result or expr in MAY_BE_EMPTY, f"panel {title!r}: no data for {expr}"
            assert (await prom.query('keeper_role{role="single"} == 1')) != []
            await _every_rule_evaluated_ok(prom)
    finally:
        code, _ = await daemon.stop()
    assert code == 0, "".join(daemon.err[-20:])


async def _every_rule_evaluated_ok(prom: Prometheus) -> None:
    """Every rule of alerts.yml has been evaluated, without error; none is firing."""
    names = {line.split("- alert: ")[1] for line in _alert_lines()}
    for _ in range(60):
        groups = (await prom.api("rules"))["groups"]
        rules = [r for g in groups for r in g["rules"]]
        if {r["name"] for r in rules} == names and all(
            not r["lastEvaluation"].startswith("0001") for r in rules
        ):
            break
        await asyncio.sleep(0.5)
    else:
        raise AssertionError(f"rules not all evaluated: {groups}")
    for rule in rules:
        assert rule["health"] == "ok" and not rule.get("lastError"), rule
        await prom.query(rule["query"])  # the expression as an instant query: no error
        firing = [a for a in rule["alerts"] if a["state"] == "firing"]
        assert not firing, (rule["name"], firing)


def _alert_lines() -> list[str]:
    text = (Path(__file__).resolve().parents[2] / "deploy/prometheus/alerts.yml").read_text()
    return [line.strip() for line in text.splitlines() if line.strip().startswith("- alert: ")]
