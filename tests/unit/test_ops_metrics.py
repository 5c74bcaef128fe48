"""The metrics the alert rules rely on: their defaults and how they are set."""

from __future__ import annotations

from keeper.core.outcome import OutcomeStatus
from keeper.ops.metrics import OUTCOMES, Metrics
from keeper.ops.server import Status


def _samples(metrics: Metrics) -> dict[str, float]:
    text = metrics.render().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_a_keeper_alone_reports_role_single_and_no_failover():
    """A new keeper's role gauge is 1 for "single" and 0 for "active" and "standby"; its
    failover counter is exported at 0.
    """
    samples = _samples(Metrics())
    assert samples['keeper_role{role="single"}'] == 1
    assert samples['keeper_role{role="active"}'] == 0
    assert samples['keeper_role{role="standby"}'] == 0
    assert samples["keeper_failovers_total"] == 0


def test_set_role_leaves_exactly_one_role_at_one():
    """Setting the role "standby" then "active" leaves only "active" at 1."""
    metrics = Metrics()
    metrics.set_role("standby")
    metrics.set_role("active")
    metrics.failovers.inc()
    samples = _samples(metrics)
    assert [
        r for r in ("single", "active", "standby") if samples[f'keeper_role{{role="{r}"}}']
    ] == ["active"]
    assert samples["keeper_failovers_total"] == 1


def test_gas_money_is_absent_until_read_then_carries_the_threshold():
    """Before the balance watch reads the key's balance no gas series exists (so the low-gas
    alert cannot fire on a default 0); after it, the balance and the threshold are exported
    per account.
    """
    metrics = Metrics()
    assert not any(name.startswith("keeper_gas_balance") for name in _samples(metrics))
    account = "0x" + "ab" * 20
    metrics.observe_gas_balance(account, 4 * 10**16, 5 * 10**16)
    samples = _samples(metrics)
    assert samples[f'keeper_gas_balance_wei{{account="{account}"}}'] == 4e16
    assert samples[f'keeper_gas_balance_low_wei{{account="{account}"}}'] == 5e16


def test_stage_liveness_follows_the_status():
    """Each stage of the supervisor's status is exported as keeper_stage_up, 1 or 0."""
    metrics = Metrics()
    metrics.observe_status(Status(stages={"keeper_loop": False, "balance_watch": True}))
    samples = _samples(metrics)
    assert samples['keeper_stage_up{stage="keeper_loop"}'] == 0
    assert samples['keeper_stage_up{stage="balance_watch"}'] == 1


def test_every_attempt_outcome_is_exported_at_zero_from_the_start():
    """The attempt counter carries every outcome the executors report, at 0 before any attempt
    (an increase() in an alert then sees the first one).
    """
    assert set(OUTCOMES) == {s.value for s in OutcomeStatus}
    samples = _samples(Metrics())
    for outcome in OUTCOMES:
        assert samples[f'keeper_liquidation_attempts_total{{outcome="{outcome}"}}'] == 0


def test_process_metrics_show_restarts():
    """process_start_time_seconds is exported (a restart changes it)."""
    assert _samples(Metrics())["process_start_time_seconds"] > 0
