"""Session fixtures: one real Aave V3 world deployed once, reloaded into a fresh Anvil per test."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from keeper.chain.client import ChainClient
from keeper.devnet.anvil import DEV_ACCOUNTS, DEV_KEYS, Anvil, AnvilOptions
from keeper.devnet.scenarios import fund_keeper
from keeper.devnet.world import World, build_world, dump_state

if TYPE_CHECKING:
    from pathlib import Path

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


async def _deploy(url: str, state: Path) -> World:
    async with ChainClient(url) as client:
        world = await build_world(client, borrowers=BORROWERS, seed=SEED)
        await fund_keeper(client, world.market, KEEPER_ADDRESS)
        await dump_state(client, state)
        return world


@pytest.fixture(scope="session")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    """Deploy the market and borrowers once per test session."""
    state = tmp_path_factory.mktemp("world") / "state.gz"
    with Anvil() as anvil:
        world = asyncio.run(_deploy(anvil.url, state))
    return Snapshot(world, state)


@pytest.fixture
def devnet(snapshot: Snapshot):
    """A fresh automining Anvil with the world loaded; stopped after the test, pass or fail."""
    with Anvil(AnvilOptions(load_state=snapshot.state)) as anvil:
        yield Devnet(anvil, snapshot.world)
