"""``keeper`` whose head-following step raises an unexpected error the first N times.

python -m tests.support.crashing_keeper N keeper-args...

It stands for a bug hit in production: the daemon must log it, restart the stage and go on.
"""

from __future__ import annotations

import sys
from typing import Any

from keeper.cli import main
from keeper.protocols.aave_v3.monitor import MarketMonitor


def _install(crashes: int) -> None:
    real = MarketMonitor.step
    left = {"n": crashes}

    async def step(self: MarketMonitor, **kwargs: Any) -> Any:
        if left["n"] > 0:
            left["n"] -= 1
            raise RuntimeError("injected stage failure")
        return await real(self, **kwargs)

    MarketMonitor.step = step  # type: ignore[method-assign]


if __name__ == "__main__":
    _install(int(sys.argv[1]))
    sys.exit(main(sys.argv[2:]))
