"""The Prometheus alert rules: valid, tested with promtool, and about metrics the keeper exports."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from keeper.ops.metrics import Metrics
from keeper.ops.server import Status

PROMETHEUS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
# The alerts issue 15 asks for, by what they are about.
ALERTS = {
    "keeper down": "KeeperDown",
    "head stale": "KeeperHeadStale",
    "breaker tripped": "KeeperBreakerTripped",
    "crash loop (a stage)": "KeeperCrashLoop",
    "crash loop (the process)": "KeeperRestarting",
    "low gas money": "KeeperLowGasMoney",
    "reconciliation mismatches": "KeeperReconciliationMismatch",
    "liquidations lost in a row": "KeeperLiquidationsLostInARow",
    "failover": "KeeperFailover",
    "no active keeper": "KeeperNoActive",
    "a submission channel keeps failing (issue 18)": "KeeperChannelFailing",
    "the SVR event stream is down (issue 18)": "KeeperSvrStreamDown",
}


def promtool() -> str:
    """The promtool binary; skipped without it, except in CI, which installs it."""
    found = shutil.which("promtool")
    if found is None:
        reason = "promtool not installed (Debian package prometheus; .ci/run installs it in CI)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args],
        cwd=PROMETHEUS,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def exported_names() -> set[str]:
    """Every sample name the keeper's /metrics carries once each labelled metric has a value."""
    metrics = Metrics()
    metrics.skips.labels("dust").inc()
    metrics.observe_rpc("eth_call", 0.01, ok=False)
    metrics.breakers.labels("stale_feed").set(0)
    metrics.health_buckets([10**18])
    metrics.observe_gas_balance("0x" + "ab" * 20, 10**18, 5 * 10**16)
    metrics.observe_status(Status(stages={"keeper_loop": True}))
    metrics.channels.declare("bundle")
    metrics.svr_stream_connected.labels(stream="mev_share").set(1)
    text = metrics.render().decode()
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1] != "#"}


def rule_blocks() -> list[tuple[str, str]]:
    """(alert name, expression) of each rule in alerts.yml (one rule per `- alert:` block)."""
    text = (PROMETHEUS / "alerts.yml").read_text()
    blocks = re.split(r"^\s+- alert: ", text, flags=re.MULTILINE)[1:]
    out = []
    for block in blocks:
        name = block.split("\n", 1)[0].strip()
        expr = re.search(r"expr: (?:>-\n)?(.*?)\n\s+(?:for|labels):", block, re.DOTALL)
        assert expr is not None, name
        out.append((name, " ".join(expr.group(1).split())))
    return out


def test_promtool_accepts_the_rules_and_the_config_that_loads_them():
    """`promtool check rules` passes on alerts.yml and `promtool check config` on prometheus.yml,
    which names alerts.yml in its rule_files.
    """
    rules = _promtool("check", "rules", "alerts.yml")
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in rules.stdout
    config = _promtool("check", "config", "prometheus.yml")
    assert config.returncode == 0, config.stdout + config.stderr
    assert "1 rule files found" in config.stdout


def test_promtool_unit_tests_of_every_alert_pass():
    """`promtool test rules alerts.test.yml` passes, and it tests every alert of alerts.yml."""
    result = _promtool("test", "rules", "alerts.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    tests = (PROMETHEUS / "alerts.test.yml").read_text()
    tested = set(re.findall(r"alertname: (\w+)", tests))
    assert tested == {name for name, _ in rule_blocks()}


def test_the_rules_cover_the_alerts_asked_for():
    """Keeper down, head stale, breaker tripped, crash loop, low gas money, reconciliation
    mismatches, liquidations lost in a row, failover, a failing channel and a down SVR stream
    each have a rule.
    """
    assert {name for name, _ in rule_blocks()} == set(ALERTS.values())


def test_every_rule_uses_only_metrics_the_keeper_exports():
    """Each expression names only `up` and series that the keeper's /metrics produces."""
    exported = exported_names()
    for name, expr in rule_blocks():
        used = set(re.findall(r"\b(?:keeper|process)_[a-z0-9_]+", expr))
        assert used or "up{" in expr, name
        assert used <= exported, (name, used - exported)


def test_the_compose_file_mounts_the_rules_where_the_config_names_them():
    """docker-compose gives Prometheus alerts.yml beside prometheus.yml, as rule_files expects."""
    compose = (PROMETHEUS.parent / "docker-compose.yml").read_text()
    assert "./prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro" in compose
    assert "./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in compose
    assert re.search(
        r"^rule_files:\n  - alerts.yml$", (PROMETHEUS / "prometheus.yml").read_text(), re.MULTILINE
    )
