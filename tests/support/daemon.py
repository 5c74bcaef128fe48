"""A keeper daemon as a subprocess, its output collected line by line as it comes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from typing import TYPE_CHECKING, Any

from keeper.localnode.anvil import CHAIN_ID
from tests.integration.conftest import KEEPER_KEY

if TYPE_CHECKING:
    from pathlib import Path


class Daemon:
    """A keeper process whose stdout and stderr are collected line by line as they come."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.args = args
        self.env = env
        self.out: list[str] = []
        self.err: list[str] = []
        self.proc: asyncio.subprocess.Process | None = None
        self._readers: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *self.args,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._readers = [
            asyncio.create_task(self._read(self.proc.stdout, self.out)),
            asyncio.create_task(self._read(self.proc.stderr, self.err)),
        ]

    @staticmethod
    async def _read(stream: asyncio.StreamReader, into: list[str]) -> None:
        while line := await stream.readline():
            into.append(line.decode(errors="replace"))

    def events(self, name: str) -> list[dict[str, Any]]:
        out = []
        for line in list(self.err):
            if f'"{name}"' in line:
                event = json.loads(line)
                if event.get("event") == name:
                    out.append(event)
        return out

    async def wait_event(self, name: str, seconds: float = 60, **match: Any) -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for event in self.events(name):
                if all(event.get(k) == v for k, v in match.items()):
                    return event
            assert self.proc is not None
            if self.proc.returncode is not None:
                break
            await asyncio.sleep(0.05)
        raise AssertionError(f"no {name} {match} in:\n{''.join(self.err[-40:])}")

    async def stop(self, seconds: float = 60) -> tuple[int, float]:
        """SIGTERM; the exit code and how long the exit took."""
        assert self.proc is not None
        started = time.monotonic()
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(self.proc.wait(), seconds)
        except TimeoutError:
            # Python's faulthandler (PYTHONFAULTHANDLER in the environment) prints every
            # thread's stack on SIGABRT: where the process hung is in the failure.
            self.proc.send_signal(signal.SIGABRT)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), 10)
            await asyncio.gather(*self._readers, return_exceptions=True)
            raise AssertionError(
                f"the keeper did not exit {seconds} s after SIGTERM:\n{''.join(self.err[-80:])}"
            ) from None
        finally:
            if self.proc.returncode is None:
                self.proc.kill()
                await self.proc.wait()
            await asyncio.gather(*self._readers, return_exceptions=True)
        return code, time.monotonic() - started


def keeper_env(rpc_url: str, journal: Path, ops_port: int, **extra: str) -> dict[str, str]:
    """A keeper daemon's environment for the devnet market: JSON logs, fast polling."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEPER_")}
    env.update(
        {
            "KEEPER_RPC_URL": rpc_url,
            "KEEPER_POOL_ADDRESSES_PROVIDER": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
            "KEEPER_PRIVATE_KEY": KEEPER_KEY,
            "KEEPER_CHAIN_ID": str(CHAIN_ID),
            "KEEPER_POLL_INTERVAL_S": "0.1",
            "KEEPER_MIN_PROFIT_USD": "1",
            "KEEPER_JOURNAL_PATH": str(journal),
            "KEEPER_OPS_PORT": str(ops_port),
            # The direct inventory path (no contract of ours deployed on this devnet).
            "KEEPER_INVENTORY_DIRECT": "true",
            "KEEPER_BREAKER_MAX_HEAD_LAG_S": "0",
            "KEEPER_LOG_FORMAT": "json",
            "PYTHONFAULTHANDLER": "1",  # stacks on SIGABRT, when a stop hangs (Daemon.stop)
            **extra,
        }
    )
    if "KEEPER_NODE_MODULES" in os.environ:
        env["KEEPER_NODE_MODULES"] = os.environ["KEEPER_NODE_MODULES"]
    return env
