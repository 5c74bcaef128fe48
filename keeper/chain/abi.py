"""ABI files and a small codec: calldata in, typed values out, logs decoded. No node needed.

The ABIs ship in ``contracts_abi/`` (our own compiled contracts, plus the Aave V3 interfaces
extracted by ``npm run build:contracts``), so the installed keeper needs no Node toolchain.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path
from typing import Any, cast

from eth_abi.abi import decode, encode
from eth_abi.exceptions import DecodingError
from eth_utils.abi import (
    abi_to_signature,
    collapse_if_tuple,
    event_abi_to_log_topic,
    function_abi_to_4byte_selector,
    get_abi_output_types,
)
from eth_utils.address import to_checksum_address

from keeper.errors import KeeperError, TransientRpcError


def abi_dir() -> Path:
    """Where the ABI files are: the repository's top level, or inside an installed wheel."""
    repo = Path(__file__).resolve().parents[2] / "contracts_abi"
    if repo.is_dir():
        return repo
    packaged = Path(str(resources.files("keeper"))) / "contracts_abi"
    if packaged.is_dir():
        return packaged
    raise KeeperError("contracts_abi/ not found: reinstall the keeper package")


@functools.cache
def load_artifact(name: str) -> dict[str, Any]:
    """A JSON artifact by relative name, e.g. ``"aave_v3/IPool"`` or ``"ManualAggregator"``."""
    path = abi_dir() / f"{name}.json"
    try:
        return cast("dict[str, Any]", json.loads(path.read_text()))
    except FileNotFoundError:
        raise KeeperError(f"ABI file {path} missing: run `npm run build:contracts`") from None


ERROR_STRING_SELECTOR = "0x08c379a0"


def error_string(data: str) -> str | None:
    """The message of ``Error(string)`` revert data (Aave's codes like '25'), if it is one."""
    if not data.startswith(ERROR_STRING_SELECTOR) or len(data) < 10 + 64 * 3:
        return None
    try:
        (message,) = decode(["string"], bytes.fromhex(data[10:]))
    except (ValueError, DecodingError):
        return None
    return str(message)


def _input_types(entry: dict[str, Any]) -> list[str]:
    return [collapse_if_tuple(dict(i)) for i in entry.get("inputs", [])]


class Codec:
    """Encode calls and decode results and events for one contract ABI."""

    def __init__(self, abi: list[dict[str, Any]]) -> None:
        self._functions: dict[str, dict[str, Any]] = {}
        self._events: dict[str, dict[str, Any]] = {}
        self.events_by_topic: dict[str, dict[str, Any]] = {}
        names: dict[str, int] = {}
        for entry in abi:
            if entry.get("type") == "function":
                names[entry["name"]] = names.get(entry["name"], 0) + 1
        for entry in abi:
            kind = entry.get("type")
            if kind == "function":
                self._functions[abi_to_signature(cast("Any", entry))] = entry
                if names[entry["name"]] == 1:
                    self._functions[entry["name"]] = entry
            elif kind == "event":
                self._events[entry["name"]] = entry
                topic = "0x" + event_abi_to_log_topic(cast("Any", entry)).hex()
                self.events_by_topic[topic] = entry

    @classmethod
    def named(cls, name: str) -> Codec:
        """The codec of an artifact in contracts_abi/."""
        return _codec_cache(name)

    def _fn(self, name: str) -> dict[str, Any]:
        try:
            return self._functions[name]
        except KeyError:
            raise KeeperError(
                f"no function {name} in ABI (overloads need their signature)"
            ) from None

    def selector(self, fn: str) -> str:
        """The 4-byte selector of ``fn``, as 8 lowercase hex digits (no ``0x``)."""
        return bytes(function_abi_to_4byte_selector(cast("Any", self._fn(fn)))).hex()

    def encode(self, fn: str, *args: Any) -> str:
        """0x-hex calldata of ``fn(*args)``."""
        entry = self._fn(fn)
        selector = function_abi_to_4byte_selector(cast("Any", entry))
        return "0x" + (selector + encode(_input_types(entry), list(args))).hex()

    def decode(self, fn: str, data: bytes) -> tuple[Any, ...]:
        """The return values of ``fn``; addresses come back checksummed.

        Raises TransientRpcError for data that does not decode (a short or garbled answer).
        """
        entry = self._fn(fn)
        types = list(get_abi_output_types(cast("Any", entry)))
        try:
            values = decode(types, data)
        except (DecodingError, OverflowError, ValueError):
            # A node that answers garbage is a node fault: skip and retry, never crash.
            raise TransientRpcError(f"undecodable answer ({len(data)} bytes)", method=fn) from None
        return tuple(_fix_addresses(t, v) for t, v in zip(types, values, strict=True))

    def topic(self, event: str) -> str:
        """topic0 of an event."""
        return "0x" + event_abi_to_log_topic(cast("Any", self._events[event])).hex()

    def decode_log(self, log: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """``(event name, args)`` of a log this ABI knows, else None."""
        topics: list[str] = [
            t if isinstance(t, str) else "0x" + bytes(t).hex() for t in log["topics"]
        ]
        if not topics:
            return None
        entry = self.events_by_topic.get(topics[0].lower())
        if entry is None:
            return None
        indexed = [i for i in entry["inputs"] if i.get("indexed")]
        plain = [i for i in entry["inputs"] if not i.get("indexed")]
        args: dict[str, Any] = {}
        for spec, topic in zip(indexed, topics[1:], strict=True):
            typ = collapse_if_tuple(dict(spec))
            (value,) = decode([typ], bytes.fromhex(topic[2:]))
            args[spec["name"]] = _fix_addresses(typ, value)
        data = log.get("data", "0x")
        raw = bytes.fromhex(data[2:]) if isinstance(data, str) else bytes(data)
        values = decode([collapse_if_tuple(dict(s)) for s in plain], raw)
        for spec, value in zip(plain, values, strict=True):
            args[spec["name"]] = _fix_addresses(collapse_if_tuple(dict(spec)), value)
        return entry["name"], args


def _fix_addresses(typ: str, value: Any) -> Any:
    if typ == "address":
        return to_checksum_address(value)
    if typ == "address[]":
        return [to_checksum_address(v) for v in value]
    return value


@functools.cache
def _codec_cache(name: str) -> Codec:
    return Codec(load_artifact(name)["abi"])
