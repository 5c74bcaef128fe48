"""The supervisor: restarts failed stages, reports crash loops, bounds the shutdown."""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs

from keeper.daemon import RestartPolicy, Stage, Supervisor
from keeper.errors import ConfigError
from keeper.ops.server import Status

FAST = RestartPolicy(backoff_s=0.001, backoff_max_s=0.01, crash_window_s=60, crash_loop_count=3)


class Alerts:
    """Records alerts instead of sending them."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def alert(self, kind: str, key: str, text: str) -> bool:
        self.sent.append((kind, key))
        return True


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.asyncio
async def test_a_failing_stage_restarts_while_the_others_keep_running():
    status, alerts = Status(), Alerts()
    supervisor = Supervisor(status, alerts, FAST)  # type: ignore[arg-type]
    stop = asyncio.Event()
    runs = {"flaky": 0, "steady": 0}

    async def flaky(stop: asyncio.Event) -> None:
        runs["flaky"] += 1
        if runs["flaky"] <= 2:
            raise RuntimeError("boom")
        await stop.wait()

    async def steady(stop: asyncio.Event) -> None:
        runs["steady"] += 1
        await stop.wait()

    with capture_logs() as logs:
        task = asyncio.create_task(
            supervisor.run(
                [Stage("flaky", flaky), Stage("steady", steady)], stop, shutdown_timeout_s=1
            )
        )
        for _ in range(200):
            if runs["flaky"] == 3:
                break
            await asyncio.sleep(0.005)
        assert status.stages == {"flaky": True, "steady": True}
        stop.set()
        await asyncio.wait_for(task, 5)
    assert runs == {"flaky": 3, "steady": 1}
    crashed = [e for e in logs if e["event"] == "stage_crashed"]
    assert len(crashed) == 2 and all(e["stage"] == "flaky" and e["exc_info"] for e in crashed)
    assert alerts.sent == []  # two crashes are not a loop
    assert status.stages == {"flaky": False, "steady": False}  # stopped


@pytest.mark.asyncio
async def test_a_crash_loop_is_alerted_and_marks_the_stage_down_until_the_window_passes():
    status, alerts, clock = Status(), Alerts(), Clock()
    supervisor = Supervisor(status, alerts, FAST, clock)  # type: ignore[arg-type]
    stop = asyncio.Event()
    runs = 0

    async def bad_then_good(stop: asyncio.Event) -> None:
        nonlocal runs
        runs += 1
        if runs <= 3:
            raise RuntimeError("boom")
        await stop.wait()

    with capture_logs():
        task = asyncio.create_task(
            supervisor.run([Stage("loop", bad_then_good)], stop, shutdown_timeout_s=1)
        )
        for _ in range(200):
            if runs == 4:
                break
            await asyncio.sleep(0.005)
        assert runs == 4
        assert alerts.sent == [("crash_loop", "loop")]
        assert status.stages["loop"] is False  # running again, but within the crash window
        assert status.healthy()[0] is False
        clock.now += 61  # the window passes with no new crash
        supervisor.refresh()
        assert status.stages["loop"] is True
        stop.set()
        await asyncio.wait_for(task, 5)


@pytest.mark.asyncio
async def test_shutdown_waits_for_in_flight_work_then_cancels_at_the_deadline():
    status, alerts = Status(), Alerts()
    supervisor = Supervisor(status, alerts, FAST)  # type: ignore[arg-type]
    stop = asyncio.Event()
    finished: list[str] = []
    cancelled: list[str] = []

    async def quick(stop: asyncio.Event) -> None:
        await stop.wait()
        await asyncio.sleep(0.05)  # settles its in-flight work within the deadline
        finished.append("quick")

    async def stuck(stop: asyncio.Event) -> None:
        try:
            await stop.wait()
            await asyncio.sleep(60)  # a receipt that never comes
        except asyncio.CancelledError:
            cancelled.append("stuck")
            raise

    with capture_logs() as logs:
        task = asyncio.create_task(
            supervisor.run(
                [Stage("quick", quick), Stage("stuck", stuck)], stop, shutdown_timeout_s=0.3
            )
        )
        await asyncio.sleep(0.05)
        loop = asyncio.get_running_loop()
        started = loop.time()
        stop.set()
        await asyncio.wait_for(task, 5)
        elapsed = loop.time() - started
    assert finished == ["quick"] and cancelled == ["stuck"]
    assert 0.3 <= elapsed < 5
    deadline = [e for e in logs if e["event"] == "shutdown_deadline"]
    assert deadline and deadline[0]["stages"] == ["stuck"]


@pytest.mark.asyncio
async def test_a_config_error_is_not_restarted_but_stops_everything_and_is_raised():
    status, alerts = Status(), Alerts()
    supervisor = Supervisor(status, alerts, FAST)  # type: ignore[arg-type]
    stop = asyncio.Event()
    runs = 0

    async def misconfigured(stop: asyncio.Event) -> None:
        nonlocal runs
        runs += 1
        raise ConfigError("native_price_asset: not a reserve")

    async def other(stop: asyncio.Event) -> None:
        await stop.wait()

    with pytest.raises(ConfigError, match="native_price_asset"):
        await asyncio.wait_for(
            supervisor.run(
                [Stage("a", misconfigured), Stage("b", other)], stop, shutdown_timeout_s=1
            ),
            5,
        )
    assert runs == 1 and stop.is_set()


@pytest.mark.asyncio
async def test_a_stage_that_returns_without_stop_is_restarted():
    status, alerts = Status(), Alerts()
    supervisor = Supervisor(status, alerts, FAST)  # type: ignore[arg-type]
    stop = asyncio.Event()
    runs = 0

    async def returns_early(stop: asyncio.Event) -> None:
        nonlocal runs
        runs += 1
        if runs >= 3:
            stop.set()

    with capture_logs() as logs:
        await asyncio.wait_for(
            supervisor.run([Stage("s", returns_early)], stop, shutdown_timeout_s=1), 5
        )
    assert runs == 3
    assert [e["event"] for e in logs].count("stage_exited") == 2
