"""The Morpho devnet: Morpho Blue 1.0.0 from its own source, its markets and borrowers."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from keeper.chain.client import ChainClient
from keeper.devnet.artifacts import MORPHO_BLUE, cache_dir, morpho_artifact
from keeper.localnode.toolchain import node_modules
from keeper.protocols.morpho_blue.health import is_healthy
from keeper.protocols.morpho_blue.reads import MORPHO
from keeper.protocols.morpho_blue.tracker import MorphoTracker

if TYPE_CHECKING:
    from tests.integration.conftest import MorphoDevnet

pytestmark = pytest.mark.integration
SCRIPT = Path(__file__).resolve().parents[2] / "contracts" / "build_morpho_blue.js"


def test_build_is_cached_and_from_the_packaged_source() -> None:
    """A second build with the same inputs is a no-op; Morpho's creation code is in the cache."""
    node = shutil.which("node")
    assert node is not None
    done = subprocess.run(
        [
            node,
            str(SCRIPT),
            "--node-modules",
            str(node_modules()),
            "--out",
            str(cache_dir(MORPHO_BLUE)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert "up to date" in done.stdout
    art = morpho_artifact("Morpho")
    assert art.bytecode.startswith("0x") and len(art.bytecode) > 20_000
    assert not art.link_references


@pytest.mark.asyncio
async def test_markets_differ_in_lltv_and_decimals_with_borrowers_near_their_limit(
    morpho_devnet: MorphoDevnet,
) -> None:
    """Four markets exist on chain under their computed ids (18/6, 8/18, 18/18, 6/18).

    Every borrower is healthy, and some sit within 7% of their LLTV.
    """
    d = morpho_devnet.world.deployment
    decimals = {t.address: t.decimals for t in d.tokens.values()}
    pairs = {
        (decimals[m.params.collateral_token], decimals[m.params.loan_token]) for m in d.markets
    }
    assert {(18, 6), (8, 18), (18, 18), (6, 18)} <= pairs
    assert len({m.params.lltv for m in d.markets}) == len(d.markets)
    async with ChainClient(morpho_devnet.url) as client:
        for m in d.markets:
            raw = await client.call(
                d.morpho, MORPHO.encode("idToMarketParams", bytes.fromhex(m.id[2:]))
            )
            assert MORPHO.decode("idToMarketParams", raw)[4] == m.params.lltv
        tracker = MorphoTracker(client, d.morpho)
        await tracker.start()
    near = 0
    for market_id, _, position in tracker.borrowers():
        view = tracker.view(market_id)
        assert view is not None
        assert is_healthy(position, view.totals, view.price, view.params.lltv)
        moved = view.price * 93 // 100
        near += not is_healthy(position, view.totals, moved, view.params.lltv)
    assert len(list(tracker.borrowers())) == len(morpho_devnet.world.borrowers)
    assert near >= 4
