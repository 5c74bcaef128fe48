"""``keeper`` with a fault hook for the HA tests: it dies like kill -9 at a chosen point.

python -m tests.support.ha_keeper keeper-args...

``HA_FAULT=point:n`` (set only by tests) picks the point, counted from this process's start;
``HA_FAULT_FILE=path`` arms it only once a test writes ``point:n`` into that file (counted
from then: a test arms the active of its round, never a standby that will take over):

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
from pathlib import Path
from typing import Any

from keeper.chain.client import ChainClient
from keeper.cli import main
from keeper.execution.sender import TxSender
from keeper.execution.signer import Signer


def _die(point: str) -> None:
    line = json.dumps({"event": "fault_kill", "point": point, "at": round(time.time(), 3)})
    os.write(2, (line + "\n").encode())
    os._exit(9)


class Fault:
    """Where to die: fixed at start, or read from a file once a test writes it."""

    def __init__(self, fixed: str, path: str) -> None:
        self.fixed, self.path = fixed, path
        self.counts: dict[str, int] = {}
        self.replacing = False

    def armed(self) -> tuple[str, int] | None:
        text = self.fixed
        if not text and self.path:
            try:
                text = Path(self.path).read_text().strip()
            except FileNotFoundError:
                return None
        if not text:
            return None
        name, _, number = text.partition(":")
        return name, int(number or "1")

    def due(self, point: str) -> bool:
        """Count one ``point`` event while armed for it; True at the n-th."""
        armed = self.armed()
        if armed is None or armed[0] != point:
            return False
        self.counts[point] = self.counts.get(point, 0) + 1
        return self.counts[point] == armed[1]


def _install(fault: Fault) -> None:
    real_sign = Signer.sign

    def sign(self: Signer, tx: dict[str, Any]) -> tuple[bytes, str]:
        if fault.due("before_sign"):
            _die("before_sign")
        return real_sign(self, tx)

    real_send = ChainClient.send_raw_transaction

    async def send_raw_transaction(self: ChainClient, raw: bytes) -> str:
        if fault.replacing:
            _die("replacement")
        if fault.due("before_send"):
            _die("before_send")
        answer = await real_send(self, raw)
        if fault.due("after_send"):
            _die("after_send")
        return answer

    real_replace = TxSender._replace_with

    async def replace_with(self: TxSender, sent: Any, new: Any, why: str) -> bool:
        if fault.due("replacement"):
            fault.replacing = True  # the replacement's own broadcast is the one never made
        return await real_replace(self, sent, new, why)

    Signer.sign = sign  # type: ignore[method-assign]
    ChainClient.send_raw_transaction = send_raw_transaction  # type: ignore[method-assign]
    TxSender._replace_with = replace_with  # type: ignore[method-assign]


if __name__ == "__main__":
    _install(Fault(os.environ.get("HA_FAULT", ""), os.environ.get("HA_FAULT_FILE", "")))
    sys.exit(main(sys.argv[1:]))
