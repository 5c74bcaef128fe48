"""The shipped dashboard queries metrics the keeper really exports; deploy files parse."""

from __future__ import annotations

import json
import re
from pathlib import Path

from keeper.ops.metrics import Metrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _exported() -> set[str]:
    metrics = Metrics()
    metrics.attempts.labels("liquidated").inc()
    metrics.skips.labels("dust").inc()
    metrics.observe_rpc("eth_call", 0.01, ok=False)
    metrics.breakers.labels("stale_feed").set(0)
    metrics.health_buckets([10**18])
    text = metrics.render().decode()
    return {
        line.split("{")[0].split(" ")[0]
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


def test_every_dashboard_query_uses_an_exported_metric():
    """Each panel's PromQL names only series the keeper's /metrics produces."""
    exported = _exported()
    dashboard = json.loads((DEPLOY / "grafana/dashboards/keeper.json").read_text())
    assert dashboard["panels"]
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            names = set(re.findall(r"\bkeeper_[a-z0-9_]+", target["expr"]))
            assert names, panel["title"]
            assert names <= exported, (panel["title"], names - exported)


def test_prometheus_scrapes_the_keeper_port():
    """The Prometheus config scrapes the port the image exposes."""
    config = (DEPLOY / "prometheus/prometheus.yml").read_text()
    assert "keeper:9464" in config
    dockerfile = (DEPLOY.parent / "Dockerfile").read_text()
    assert "EXPOSE 9464" in dockerfile and "HEALTHCHECK" in dockerfile and "/healthz" in dockerfile
