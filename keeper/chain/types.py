"""Typed chain results, parsed once at the client instead of hex strings in every module.

A malformed answer is a :class:`TransientRpcError` (the node misbehaved; retried or skipped),
never a ``KeyError`` deep in a stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from keeper.errors import TransientRpcError


def _int(value: Any, default: int | None = None) -> int:
    if value is None:
        if default is None:
            raise TypeError("missing quantity")
        return default
    if isinstance(value, int):
        return value
    return int(str(value), 16)


@dataclass(frozen=True, slots=True)
class Log:
    """One event log; ``topics`` and ``data`` stay hex (each ABI decodes its own)."""

    address: str
    topics: tuple[str, ...]
    data: str
    block_number: int
    tx_hash: str
    tx_index: int
    log_index: int

    @classmethod
    def from_rpc(cls, raw: dict[str, Any]) -> Log:
        """From a log object of ``eth_getLogs`` or a receipt."""
        try:
            return cls(
                str(raw["address"]),
                tuple(str(t) for t in raw.get("topics", [])),
                str(raw.get("data", "0x")),
                _int(raw.get("blockNumber"), 0),
                str(raw.get("transactionHash", "")),
                _int(raw.get("transactionIndex"), 0),
                _int(raw.get("logIndex"), 0),
            )
        except (KeyError, TypeError, ValueError):
            raise TransientRpcError("malformed log", method="eth_getLogs") from None

    def as_rpc(self) -> dict[str, Any]:
        """The JSON-RPC shape, for ABI decoders that take one."""
        return {"address": self.address, "topics": list(self.topics), "data": self.data}


@dataclass(frozen=True, slots=True)
class Receipt:
    """A mined transaction's receipt."""

    tx_hash: str
    block_number: int
    tx_index: int
    ok: bool  # status 1
    gas_used: int
    effective_gas_price: int
    logs: tuple[Log, ...]
    contract_address: str | None = None
    l1_fee: int = 0  # OP-stack receipts' ``l1Fee``: the L1 data fee charged on top of L2 gas

    @property
    def gas_cost_wei(self) -> int:
        """What the transaction paid for gas, the L1 data fee of OP-stack chains included."""
        return self.gas_used * self.effective_gas_price + self.l1_fee

    @classmethod
    def from_rpc(cls, raw: dict[str, Any]) -> Receipt:
        """From an ``eth_getTransactionReceipt`` answer."""
        try:
            contract = raw.get("contractAddress")
            return cls(
                str(raw["transactionHash"]),
                _int(raw["blockNumber"]),
                _int(raw.get("transactionIndex"), 0),
                _int(raw["status"]) == 1,
                _int(raw["gasUsed"]),
                _int(raw.get("effectiveGasPrice"), 0),
                tuple(Log.from_rpc(x) for x in raw.get("logs", [])),
                None if contract is None else str(contract),
                _int(raw.get("l1Fee"), 0),
            )
        except (KeyError, TypeError, ValueError):
            raise TransientRpcError(
                "malformed receipt", method="eth_getTransactionReceipt"
            ) from None


@dataclass(frozen=True, slots=True)
class PendingTx:
    """A transaction in the node's pool, as ``eth_getTransactionByHash`` gives it."""

    tx_hash: str
    sender: str
    to: str | None
    input: str
    max_fee: int  # per gas; a legacy transaction's gas price
    max_tip: int | None  # None for a legacy transaction

    def effective_tip(self, base_fee: int) -> int:
        """The tip per gas it pays above ``base_fee``."""
        if self.max_tip is not None:
            return max(0, min(self.max_tip, self.max_fee - base_fee))
        return max(0, self.max_fee - base_fee)

    @classmethod
    def from_rpc(cls, raw: dict[str, Any]) -> PendingTx:
        """From an ``eth_getTransactionByHash`` answer."""
        try:
            tip = raw.get("maxPriorityFeePerGas")
            to = raw.get("to")
            return cls(
                str(raw["hash"]),
                str(raw["from"]),
                None if to is None else str(to),
                str(raw.get("input", "0x")),
                _int(raw.get("maxFeePerGas") or raw.get("gasPrice"), 0),
                None if tip is None else _int(tip),
            )
        except (KeyError, TypeError, ValueError):
            raise TransientRpcError(
                "malformed transaction", method="eth_getTransactionByHash"
            ) from None
