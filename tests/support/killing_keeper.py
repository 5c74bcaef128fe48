"""``keeper`` that dies like kill -9 right before its Nth broadcast (after signing and
journaling it, before the node hears of it).

python -m tests.support.killing_keeper N keeper-args...
"""

from __future__ import annotations

import os
import sys

from keeper.chain.client import ChainClient
from keeper.cli import main


def _install(nth: int) -> None:
    real = ChainClient.send_raw_transaction
    count = {"n": 0}

    async def send_raw_transaction(self: ChainClient, raw: bytes) -> str:
        count["n"] += 1
        if count["n"] == nth:
            os._exit(9)  # no cleanup, no flush: what SIGKILL leaves behind
        return await real(self, raw)

    ChainClient.send_raw_transaction = send_raw_transaction  # type: ignore[method-assign]


if __name__ == "__main__":
    _install(int(sys.argv[1]))
    sys.exit(main(sys.argv[2:]))
