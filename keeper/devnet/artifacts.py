"""Contract artifacts with library linking, from npm packages and from the Aave v3.6 build.

Hardhat artifacts come from the pinned npm packages; the Aave v3.6 contracts are compiled from
source into the repository's ``.cache/`` (contracts/build_aave_origin.js). Both carry
``linkReferences`` in the same shape (source path -> library name -> byte offsets in the
creation code), so one linker serves both.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from eth_abi.abi import encode
from eth_utils.abi import collapse_if_tuple

from keeper.chain.abi import load_artifact
from keeper.errors import DevnetError
from keeper.localnode.toolchain import node_modules

# The Aave v3.6 source package and what contracts/build_aave_origin.js makes of it.
ORIGIN_PACKAGE = "@aave-dao/aave-v3-origin"
ORIGIN_VERSION = "3.6.0"
ORIGIN_BUILD_SCRIPT = Path(__file__).resolve().parents[2] / "contracts" / "build_aave_origin.js"
_ORIGIN_FIX = (
    "run `make setup`, or `npm install` then `node contracts/build_aave_origin.js` in the "
    "repository"
)
ORIGIN_COMPILE_TIMEOUT_S = 600
# Contracts added to the build after its first release: a cache made before them is rebuilt
# (the script's own stamp sees the new target list and recompiles).
ORIGIN_LATER_CONTRACTS = ("PriceOracleSentinel", "SequencerOracle")

log = structlog.get_logger(__name__)

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


def origin_cache_dir() -> Path:
    """Where the compiled v3.6 contracts live.

    ``.cache/aave-v3-origin-3.6.0/`` next to the node_modules folder; ``KEEPER_AAVE_ORIGIN_CACHE``
    overrides it.
    """
    override = os.environ.get("KEEPER_AAVE_ORIGIN_CACHE")
    if override:
        return Path(override)
    return node_modules().parent / ".cache" / f"aave-v3-origin-{ORIGIN_VERSION}"


def _installed_origin_version(modules: Path) -> str:
    manifest = modules / ORIGIN_PACKAGE / "package.json"
    try:
        return str(json.loads(manifest.read_text())["version"])
    except FileNotFoundError:
        raise DevnetError(
            f"{ORIGIN_PACKAGE} is not installed in {modules}: {_ORIGIN_FIX}"
        ) from None


def _stamp_version(cache: Path) -> str | None:
    try:
        stamp = json.loads((cache / "stamp.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    version = stamp.get("versions", {}).get(ORIGIN_PACKAGE)
    return str(version) if version is not None else None


@functools.cache
def ensure_origin_build() -> Path:
    """The v3.6 build cache, compiled now (once, about 20 s) if missing or from another version.

    ``make setup`` normally builds it; this fallback lets ``keeper devnet up`` work right after a
    plain ``npm install``. Without Node or the build script it raises DevnetError naming the fix.
    """
    modules = node_modules()
    installed = _installed_origin_version(modules)
    if installed != ORIGIN_VERSION:
        raise DevnetError(
            f"{ORIGIN_PACKAGE} {installed} is installed, the devnet needs {ORIGIN_VERSION}: "
            "run `npm install` with the repository's package.json"
        )
    cache = origin_cache_dir()
    complete = all((cache / f"{name}.json").is_file() for name in ORIGIN_LATER_CONTRACTS)
    if _stamp_version(cache) == ORIGIN_VERSION and complete:
        return cache
    node = shutil.which("node")
    if node is None or not ORIGIN_BUILD_SCRIPT.is_file():
        raise DevnetError(f"the Aave v3.6 build cache {cache} is missing: {_ORIGIN_FIX}")
    log.info("compiling_aave_origin", version=ORIGIN_VERSION, cache=str(cache), expect_s=20)
    started = time.monotonic()
    cmd = [node, str(ORIGIN_BUILD_SCRIPT), "--node-modules", str(modules), "--out", str(cache)]
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=ORIGIN_COMPILE_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise DevnetError(f"compiling Aave v3.6 took over {ORIGIN_COMPILE_TIMEOUT_S} s") from None
    if done.returncode != 0 or _stamp_version(cache) != ORIGIN_VERSION:
        tail = (done.stderr or done.stdout).strip()[-2000:]
        raise DevnetError(f"compiling Aave v3.6 failed ({_ORIGIN_FIX}): {tail}")
    log.info("compiled_aave_origin", seconds=round(time.monotonic() - started, 1))
    return cache


@functools.cache
def origin_artifact(name: str) -> Artifact:
    """A contract of the Aave v3.6 build (compiled from source on first use if needed)."""
    path = ensure_origin_build() / f"{name}.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise DevnetError(f"artifact {name} not in the Aave v3.6 build {path.parent}") from None
    return Artifact(name, data["abi"], data["bytecode"], data.get("linkReferences", {}))
