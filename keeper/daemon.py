"""Supervision: the keeper's stages run under one TaskGroup and are restarted when they fail.

A stage is a coroutine ``run(stop)`` that works until ``stop`` is set. An unexpected exception
in a stage is logged with its traceback and the stage restarts after a growing backoff, so one
bug in one block does not take the process down. Many crashes in a short window are a crash
loop: it is alerted, and the stage counts as down for /healthz until it runs cleanly again.

A configuration error found at run time is not a crash: restarting cannot fix it, so it stops
every stage and is raised to the caller (the CLI exits 2).

Shutdown: once ``stop`` is set no stage starts new work; stages get ``shutdown_timeout_s`` to
finish what is in flight (a transaction waiting for its receipt) and are then cancelled. Every
transaction is in the journal before it is broadcast, so a cancelled wait loses nothing: the
next start reconciles it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import structlog

from keeper.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from keeper.ops.alerts import Alerts
    from keeper.ops.server import Status

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Stage:
    """A named long-running part of the keeper."""

    name: str
    run: Callable[[asyncio.Event], Awaitable[None]]


@dataclass(frozen=True)
class RestartPolicy:
    """How failed stages come back, and what counts as a crash loop."""

    backoff_s: float = 0.5
    backoff_max_s: float = 30.0
    crash_window_s: float = 600.0
    crash_loop_count: int = 5


@dataclass
class _StageState:
    running: bool = False
    crashes: list[float] = field(default_factory=list)


class Supervisor:
    """Runs stages until ``stop``; restarts failed ones; bounds the shutdown."""

    def __init__(
        self,
        status: Status,
        alerts: Alerts,
        policy: RestartPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.status = status
        self.alerts = alerts
        self.policy = policy or RestartPolicy()
        self.clock = clock
        self._states: dict[str, _StageState] = {}
        self._fatal: ConfigError | None = None

    def crashes(self, name: str) -> int:
        """Crashes of a stage within the crash window."""
        state = self._states.get(name)
        if state is None:
            return 0
        now = self.clock()
        return len([t for t in state.crashes if now - t < self.policy.crash_window_s])

    def crash_looping(self, name: str) -> bool:
        """True while a stage has crashed too often within the window."""
        return self.crashes(name) >= self.policy.crash_loop_count

    async def run(
        self, stages: Sequence[Stage], stop: asyncio.Event, *, shutdown_timeout_s: float
    ) -> None:
        """Run every stage until ``stop`` (and the shutdown deadline); raise a fatal error."""
        for stage in stages:
            self._states[stage.name] = _StageState()
            self.status.stages[stage.name] = False
        async with asyncio.TaskGroup() as group:
            tasks = [
                group.create_task(self._supervise(stage, stop), name=f"stage:{stage.name}")
                for stage in stages
            ]
            group.create_task(self._watch(tasks, stop, shutdown_timeout_s))
        for stage in stages:
            self.status.stages[stage.name] = False
        if self._fatal is not None:
            raise self._fatal

    def refresh(self) -> None:
        """Stage liveness for /healthz: running, and not within a crash loop."""
        for name, state in self._states.items():
            self.status.stages[name] = state.running and not self.crash_looping(name)

    async def _watch(
        self, tasks: list[asyncio.Task[None]], stop: asyncio.Event, timeout_s: float
    ) -> None:
        """Refresh liveness until ``stop``; then bound the shutdown.

        The stages get ``timeout_s`` to finish; the rest are cancelled.
        """
        while not stop.is_set():
            self.refresh()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
        started = self.clock()
        _, pending = await asyncio.wait(tasks, timeout=timeout_s)
        if pending:
            names = sorted(t.get_name().removeprefix("stage:") for t in pending)
            log.warning(
                "shutdown_deadline",
                stages=names,
                timeout_s=timeout_s,
                note="in-flight transactions stay in the journal and are reconciled at start",
            )
            for task in pending:
                task.cancel()
        else:
            log.info("stages_stopped", seconds=round(self.clock() - started, 3))

    async def _supervise(self, stage: Stage, stop: asyncio.Event) -> None:
        state = self._states[stage.name]
        while not stop.is_set():
            state.running = True
            self.refresh()
            try:
                await stage.run(stop)
            except ConfigError as exc:
                log.error("fatal_config_error", stage=stage.name, error=str(exc))  # noqa: TRY400
                self._fatal = exc
                stop.set()
                return
            except Exception:
                log.exception("stage_crashed", stage=stage.name)
            else:
                if stop.is_set():
                    return
                log.error("stage_exited", stage=stage.name, note="restarting")
            await self._after_crash(stage.name, stop)

    async def _after_crash(self, name: str, stop: asyncio.Event) -> None:
        """Record the crash, mark the stage down, alert a crash loop, and back off."""
        now = self.clock()
        state = self._states[name]
        state.crashes = [t for t in state.crashes if now - t < self.policy.crash_window_s]
        state.crashes.append(now)
        state.running = False
        self.refresh()
        count = len(state.crashes)
        if count >= self.policy.crash_loop_count:
            self.alerts.alert(
                "crash_loop",
                name,
                f"crash loop: stage {name} crashed {count} times in "
                f"{self.policy.crash_window_s / 60:.0f} min; it keeps restarting",
            )
        backoff = min(self.policy.backoff_max_s, self.policy.backoff_s * 2 ** (count - 1))
        log.info("stage_restarting", stage=name, in_s=backoff, crashes=count)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), backoff)
