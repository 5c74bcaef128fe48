"""Naming why an Aave call reverted: Error(string) codes, panics and 3.4+ custom errors.

Pools up to 3.3 revert with numeric string codes (``'45'``); from 3.4 on with custom errors
(``MustNotLeaveDust()``, selector ``0xb629b0e4``), most of them raised inside the libraries, so
they are decoded against the whole Errors library, not the Pool's own ABI.
"""

from __future__ import annotations

import functools

from eth_utils.crypto import keccak

from keeper.chain.abi import error_string, load_artifact

PANIC_SELECTOR = "0x4e487b71"


@functools.cache
def _custom_errors() -> dict[str, str]:
    """Selector (0x + 8 hex) -> name of every error of aave-v3-origin and of our contract.

    Aave's from its Errors library; ours from FlashLiquidator (``PlanStale``: the early stop of
    a plan that no longer holds).
    """
    out = {}
    for artifact in ("aave_v3_6/Errors", "FlashLiquidator"):
        for entry in load_artifact(artifact)["abi"]:
            if entry.get("type") != "error":
                continue
            types = ",".join(i["type"] for i in entry.get("inputs", []))
            signature = f"{entry['name']}({types})"
            out["0x" + keccak(text=signature)[:4].hex()] = entry["name"]
    return out


def revert_error(data: str | None) -> str | None:
    """A short name for revert data: ``MustNotLeaveDust``, ``Error('45')``, ``Panic(0x11)``."""
    if not data or len(data) < 10:
        return None
    data = data.lower()
    message = error_string(data)
    if message is not None:
        return f"Error({message!r})"
    if data.startswith(PANIC_SELECTOR) and len(data) >= 10 + 64:
        return f"Panic({hex(int(data[10:74], 16))})"
    return _custom_errors().get(data[:10])
