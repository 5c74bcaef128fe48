"""``keeper`` with a fault hook for the HA tests: it dies like kill -9 at a chosen point.

python -m tests.support.ha_keeper keeper-args...

``HA_FAULT=point:n`` (set only by tests) picks the point, counted from this process's start:

- ``before_sign:n``  the n-th signature is never made (the plan decided, nothing journaled);
- ``before_send:n``  the n-th broadcast is journaled (signed bytes) and never reaches the node;
- ``after_send:n``   the n-th broadcast reaches the node, and the process dies before the
                     journal hears it was broadcast;
- ``replacement:n``  the n-th replacement is signed and journaled, never broadcast.

A standby signs and sends nothing, so its counts only start once it is active. Before dying
the hook writes one JSON line ``{"event": "fault_kill", "point": ..., "at": ...}`` to stderr
with a raw ``write`` (``os._exit`` flushes nothing, like SIGKILL).
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from keeper.chain.client import ChainClient
from keeper.cli import main
from keeper.execution.sender import TxSender
from keeper.execution.signer import Signer


def _die(point: str) -> None:
    line = json.dumps({"event": "fault_kill", "point": point, "at": round(time.time(), 3)})
    os.write(2, (line + "\n").encode())
    os._exit(9)


def _install(point: str, nth: int) -> None:
    count = {"n": 0, "replacing": 0}

    def due() -> bool:
        count["n"] += 1
        return count["n"] == nth

    real_sign = Signer.sign

    def sign(self: Signer, tx: dict[str, Any]) -> tuple[bytes, str]:
        if point == "before_sign" and due():
            _die(point)
        return real_sign(self, tx)

    real_send = ChainClient.send_raw_transaction

    async def send_raw_transaction(self: ChainClient, raw: bytes) -> str:
        if (point == "before_send" and due()) or count["replacing"] == 1:
            _die(point)
        answer = await real_send(self, raw)
        if point == "after_send" and due():
            _die(point)
        return answer

    real_replace = TxSender._replace_with

    async def replace_with(self: TxSender, sent: Any, new: Any, why: str) -> bool:
        if point == "replacement" and due():
            count["replacing"] = 1  # the replacement's own broadcast is the one never made
        return await real_replace(self, sent, new, why)

    Signer.sign = sign  # type: ignore[method-assign]
    ChainClient.send_raw_transaction = send_raw_transaction  # type: ignore[method-assign]
    TxSender._replace_with = replace_with  # type: ignore[method-assign]


if __name__ == "__main__":
    fault = os.environ.get("HA_FAULT", "")
    if fault:
        name, _, number = fault.partition(":")
        _install(name, int(number or "1"))
    sys.exit(main(sys.argv[1:]))
