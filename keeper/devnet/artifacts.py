"""Hardhat artifacts from the pinned npm packages, with library linking."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import encode
from eth_utils.abi import collapse_if_tuple

from keeper.chain.abi import load_artifact
from keeper.devnet.toolchain import node_modules
from keeper.errors import DevnetError

PACKAGES = {
    "aave": "@aave/core-v3/artifacts/contracts",
    "uniswap-core": "@uniswap/v3-core/artifacts/contracts",
    "uniswap-periphery": "@uniswap/v3-periphery/artifacts/contracts",
}


@dataclass(frozen=True)
class Artifact:
    """Creation code plus the ABI of one contract."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str  # 0x-hex, may hold __$...$__ link placeholders
    link_references: dict[str, dict[str, list[dict[str, int]]]]

    def linked(self, libraries: dict[str, str]) -> str:
        """Creation code with every library placeholder replaced by its address."""
        code = self.bytecode[2:]
        for libs in self.link_references.values():
            for lib_name, refs in libs.items():
                if lib_name not in libraries:
                    raise DevnetError(f"{self.name} needs library {lib_name} deployed first")
                address = libraries[lib_name].lower().removeprefix("0x")
                for ref in refs:
                    start = ref["start"] * 2
                    code = code[:start] + address + code[start + ref["length"] * 2 :]
        if "__$" in code:
            raise DevnetError(f"{self.name}: unresolved library placeholder after linking")
        return "0x" + code

    def deploy_data(self, args: list[Any], libraries: dict[str, str] | None = None) -> str:
        """Creation code followed by the ABI-encoded constructor arguments."""
        ctor = next((e for e in self.abi if e.get("type") == "constructor"), None)
        types = [collapse_if_tuple(dict(i)) for i in ctor["inputs"]] if ctor else []
        if len(types) != len(args):
            raise DevnetError(
                f"{self.name} constructor takes {len(types)} arguments, got {len(args)}"
            )
        return self.linked(libraries or {}) + encode(types, args).hex()


@functools.cache
def _index(package: str) -> dict[str, str]:
    root = node_modules() / PACKAGES[package]
    index: dict[str, str] = {}
    for path in root.rglob("*.json"):
        if path.name.endswith(".dbg.json"):
            continue
        index.setdefault(path.stem, str(path))
    if not index:
        raise DevnetError(f"no artifacts under {root}")
    return index


@functools.cache
def npm_artifact(name: str, package: str = "aave") -> Artifact:
    """A compiled contract from one of the pinned npm packages."""
    try:
        path = _index(package)[name]
    except KeyError:
        raise DevnetError(f"artifact {name} not found in {PACKAGES[package]}") from None
    with open(path) as fh:  # noqa: PTH123
        data = json.load(fh)
    return Artifact(name, data["abi"], data["bytecode"], data.get("linkReferences", {}))


def own_artifact(name: str) -> Artifact:
    """One of our contracts, compiled into contracts_abi/."""
    data = load_artifact(name)
    return Artifact(name, data["abi"], data["bytecode"], {})
