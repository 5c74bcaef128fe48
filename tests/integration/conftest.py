"""Session fixtures: one real Aave V3 world deployed once, reloaded into a fresh Anvil per test.

``snapshot``/``devnet`` hold the v3.6 world (compiled from aave-v3-origin 3.6.0: the version
live markets run), with the planned positions plus its special accounts; ``snapshot_v30``/
``devnet_v30`` the v3.0 world (@aave/core-v3 1.19.3 bytecode), which forks still run;
``devnet_any`` runs a test on both. ``morpho_snapshot``/``morpho_devnet`` hold a Morpho Blue
1.0.0 world (compiled from @morpho-org/morpho-blue 1.0.0) with its OracleMock markets and
borrowers; ``morpho_feed_snapshot``/``morpho_feed_devnet`` every devnet market, the two priced
through feeds (our DevnetChainlinkOracle over ManualAggregators) included.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from keeper.chain.client import ChainClient
from keeper.devnet.morpho_spec import MARKETS, MOCK_MARKETS
from keeper.devnet.morpho_world import MorphoWorld, build_morpho_world
from keeper.devnet.scenarios import fund_keeper
from keeper.devnet.world import World, build_world, dump_state
from keeper.localnode.anvil import DEV_ACCOUNTS, DEV_KEYS, Anvil, AnvilOptions

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path

    from keeper.devnet.morpho_spec import MarketSpec
    from keeper.devnet.world import AaveVersion

BORROWERS = 220
SEED = 11
KEEPER_ADDRESS, KEEPER_KEY = DEV_ACCOUNTS[1], DEV_KEYS[1]


@dataclass
class Snapshot:
    """A deployed world on disk."""

    world: World
    state: Path


@dataclass
class Devnet:
    """A running Anvil holding the snapshot's world."""

    anvil: Anvil
    world: World

    @property
    def url(self) -> str:
        """The node's HTTP endpoint."""
        return self.anvil.url


async def _deploy(url: str, state: Path, aave: AaveVersion) -> World:
    async with ChainClient(url) as client:
        world = await build_world(client, borrowers=BORROWERS, seed=SEED, aave=aave)
        await fund_keeper(client, world.market, KEEPER_ADDRESS)
        await dump_state(client, state)
        return world


@pytest.fixture(scope="session")
def snapshot_v30(tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    """Deploy the v3.0 market and borrowers once per test session."""
    state = tmp_path_factory.mktemp("world_v30") / "state.gz"
    with Anvil() as anvil:
        world = asyncio.run(_deploy(anvil.url, state, aave="3.0"))
    return Snapshot(world, state)


@pytest.fixture(scope="session")
def snapshot_v36(tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    """Deploy the v3.6 market, the same borrowers and the special accounts once per session."""
    state = tmp_path_factory.mktemp("world_v36") / "state.gz"
    with Anvil() as anvil:
        world = asyncio.run(_deploy(anvil.url, state, aave="3.6"))
    return Snapshot(world, state)


@pytest.fixture(scope="session")
def snapshot(snapshot_v36: Snapshot) -> Snapshot:
    """The default world: v3.6, the version live users meet."""
    return snapshot_v36


def _running(snap: Snapshot) -> Iterator[Devnet]:
    with Anvil(AnvilOptions(load_state=snap.state)) as anvil:
        yield Devnet(anvil, snap.world)


@pytest.fixture
def devnet(snapshot: Snapshot) -> Iterator[Devnet]:
    """A fresh automining Anvil with the world loaded; stopped after the test, pass or fail."""
    yield from _running(snapshot)


@pytest.fixture
def devnet_v30(snapshot_v30: Snapshot) -> Iterator[Devnet]:
    """A fresh Anvil with the v3.0 world loaded; stopped after the test."""
    yield from _running(snapshot_v30)


@pytest.fixture
def devnet_v36(snapshot_v36: Snapshot) -> Iterator[Devnet]:
    """A fresh Anvil with the v3.6 world loaded; stopped after the test."""
    yield from _running(snapshot_v36)


@pytest.fixture(params=["3.0", "3.6"])
def devnet_any(request: pytest.FixtureRequest) -> Iterator[Devnet]:
    """The test runs once on each supported world (v3.0 and v3.6 bytecode)."""
    snap: Snapshot = request.getfixturevalue(f"snapshot_v{request.param.replace('.', '')}")
    yield from _running(snap)


@dataclass
class MorphoSnapshot:
    """A deployed Morpho Blue world on disk."""

    world: MorphoWorld
    state: Path


@dataclass
class MorphoDevnet:
    """A running Anvil holding the Morpho snapshot's world."""

    anvil: Anvil
    world: MorphoWorld

    @property
    def url(self) -> str:
        """The node's HTTP endpoint."""
        return self.anvil.url


MORPHO_BORROWERS = 32
MORPHO_FEED_BORROWERS = 48


async def _deploy_morpho(
    url: str, state: Path, markets: Sequence[MarketSpec], borrowers: int
) -> MorphoWorld:
    async with ChainClient(url) as client:
        world = await build_morpho_world(
            client, borrowers=borrowers, seed=SEED, markets=markets, uniswap=True
        )
        await dump_state(client, state)
        return world


@pytest.fixture(scope="session")
def morpho_snapshot(tmp_path_factory: pytest.TempPathFactory) -> MorphoSnapshot:
    """Deploy Morpho Blue 1.0.0 (own bytecode), its markets and borrowers once per session.

    The OracleMock-priced markets only: these tests move prices with ``setPrice``.
    """
    state = tmp_path_factory.mktemp("world_morpho") / "state.gz"
    with Anvil() as anvil:
        world = asyncio.run(_deploy_morpho(anvil.url, state, MOCK_MARKETS, MORPHO_BORROWERS))
    return MorphoSnapshot(world, state)


@pytest.fixture
def morpho_devnet(morpho_snapshot: MorphoSnapshot) -> Iterator[MorphoDevnet]:
    """A fresh automining Anvil with the Morpho world loaded; stopped after the test."""
    with Anvil(AnvilOptions(load_state=morpho_snapshot.state)) as anvil:
        yield MorphoDevnet(anvil, morpho_snapshot.world)


@pytest.fixture(scope="session")
def morpho_feed_snapshot(tmp_path_factory: pytest.TempPathFactory) -> MorphoSnapshot:
    """Every devnet Morpho market, the feed-priced ones included, and borrowers, once."""
    state = tmp_path_factory.mktemp("world_morpho_feeds") / "state.gz"
    with Anvil() as anvil:
        world = asyncio.run(_deploy_morpho(anvil.url, state, MARKETS, MORPHO_FEED_BORROWERS))
    return MorphoSnapshot(world, state)


@pytest.fixture
def morpho_feed_devnet(morpho_feed_snapshot: MorphoSnapshot) -> Iterator[MorphoDevnet]:
    """A fresh automining Anvil with the feed world loaded; stopped after the test."""
    with Anvil(AnvilOptions(load_state=morpho_feed_snapshot.state)) as anvil:
        yield MorphoDevnet(anvil, morpho_feed_snapshot.world)
