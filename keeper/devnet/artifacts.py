"""Contract artifacts with library linking, from npm packages and from source builds.

Hardhat artifacts come from the pinned npm packages; the Aave v3.6 and Morpho Blue contracts are
compiled from source into the repository's ``.cache/`` (contracts/build_aave_origin.js,
contracts/build_morpho_blue.js). All carry
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

_CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
COMPILE_TIMEOUT_S = 600


@dataclass(frozen=True)
class SourceBuild:
    """An npm source package compiled at install time into ``.cache/<cache_name>-<version>/``.

    ``script`` (in contracts/) writes one artifact per contract plus ``stamp.json`` naming the
    package version; ``env`` overrides the cache folder.
    """

    label: str
    package: str
    version: str
    script: str
    cache_name: str
    env: str
    expect_s: int
    # Contracts added to the build after its first release: a cache made before them is
    # rebuilt (the script's own stamp sees the new target list and recompiles).
    later: tuple[str, ...] = ()

    @property
    def fix(self) -> str:
        """What the operator runs when the build is missing."""
        return (
            f"run `make setup`, or `npm install` then `node contracts/{self.script}` in the "
            "repository"
        )


# The Aave v3.6 source package and what contracts/build_aave_origin.js makes of it.
ORIGIN = SourceBuild(
    "Aave v3.6",
    "@aave-dao/aave-v3-origin",
    "3.6.0",
    "build_aave_origin.js",
    "aave-v3-origin",
    "KEEPER_AAVE_ORIGIN_CACHE",
    20,
    later=("PriceOracleSentinel", "SequencerOracle"),
)
# Morpho Blue 1.0.0 (the deployed source) and its mocks: contracts/build_morpho_blue.js.
MORPHO_BLUE = SourceBuild(
    "Morpho Blue 1.0.0",
    "@morpho-org/morpho-blue",
    "1.0.0",
    "build_morpho_blue.js",
    "morpho-blue",
    "KEEPER_MORPHO_BLUE_CACHE",
    25,
)
ORIGIN_VERSION = ORIGIN.version

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


def cache_dir(build: SourceBuild) -> Path:
    """Where a source build's contracts live.

    ``.cache/<name>-<version>/`` next to the node_modules folder; ``build.env`` overrides it.
    """
    override = os.environ.get(build.env)
    if override:
        return Path(override)
    return node_modules().parent / ".cache" / f"{build.cache_name}-{build.version}"


def origin_cache_dir() -> Path:
    """Where the compiled v3.6 contracts live (``KEEPER_AAVE_ORIGIN_CACHE`` overrides it)."""
    return cache_dir(ORIGIN)


def _installed_version(build: SourceBuild, modules: Path) -> str:
    manifest = modules / build.package / "package.json"
    try:
        return str(json.loads(manifest.read_text())["version"])
    except FileNotFoundError:
        raise DevnetError(f"{build.package} is not installed in {modules}: {build.fix}") from None


def _stamp_version(build: SourceBuild, cache: Path) -> str | None:
    try:
        stamp = json.loads((cache / "stamp.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    version = stamp.get("versions", {}).get(build.package)
    return str(version) if version is not None else None


@functools.cache
def ensure_build(build: SourceBuild) -> Path:
    """The build cache, compiled now (once) if missing or from another version.

    ``make setup`` normally builds it; this fallback lets ``keeper devnet up`` work right after a
    plain ``npm install``. Without Node or the build script it raises DevnetError naming the fix.
    """
    modules = node_modules()
    installed = _installed_version(build, modules)
    if installed != build.version:
        raise DevnetError(
            f"{build.package} {installed} is installed, the devnet needs {build.version}: "
            "run `npm install` with the repository's package.json"
        )
    cache = cache_dir(build)
    complete = all((cache / f"{name}.json").is_file() for name in build.later)
    if _stamp_version(build, cache) == build.version and complete:
        return cache
    node = shutil.which("node")
    script = _CONTRACTS / build.script
    if node is None or not script.is_file():
        raise DevnetError(f"the {build.label} build cache {cache} is missing: {build.fix}")
    log.info("compiling_sources", build=build.label, cache=str(cache), expect_s=build.expect_s)
    started = time.monotonic()
    cmd = [node, str(script), "--node-modules", str(modules), "--out", str(cache)]
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise DevnetError(f"compiling {build.label} took over {COMPILE_TIMEOUT_S} s") from None
    if done.returncode != 0 or _stamp_version(build, cache) != build.version:
        tail = (done.stderr or done.stdout).strip()[-2000:]
        raise DevnetError(f"compiling {build.label} failed ({build.fix}): {tail}")
    log.info("compiled_sources", build=build.label, seconds=round(time.monotonic() - started, 1))
    return cache


def built_artifact(build: SourceBuild, name: str) -> Artifact:
    """A contract of a source build (compiled on first use if needed)."""
    path = ensure_build(build) / f"{name}.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise DevnetError(f"artifact {name} not in the {build.label} build {path.parent}") from None
    return Artifact(name, data["abi"], data["bytecode"], data.get("linkReferences", {}))


def ensure_origin_build() -> Path:
    """The v3.6 build cache (compiled now, about 20 s, if missing)."""
    return ensure_build(ORIGIN)


@functools.cache
def origin_artifact(name: str) -> Artifact:
    """A contract of the Aave v3.6 build (compiled from source on first use if needed)."""
    return built_artifact(ORIGIN, name)


@functools.cache
def morpho_artifact(name: str) -> Artifact:
    """A contract of the Morpho Blue 1.0.0 build: Morpho, OracleMock, IrmMock, ERC20Mock."""
    return built_artifact(MORPHO_BLUE, name)
