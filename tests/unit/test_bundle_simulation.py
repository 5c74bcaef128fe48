"""A failed pre-send simulation is run once more before the plan is dropped.

Anvil can answer a read at "latest" with the state of the block it is still mining under the
previous header (seen as Aave's interest math underflowing, panic 0x11): a failure seen once may
be the node's, not the plan's.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

import pytest

from keeper.execution.inventory import InventoryExecutor

if TYPE_CHECKING:
    from collections.abc import Sequence

    from keeper.chain.client import ChainClient
    from keeper.execution.sender import TxSender

PANIC = {"status": "0x0", "gasUsed": "0x5208", "error": {"message": "execution failed"}}
OK = {"status": "0x1", "gasUsed": "0x30d40"}


class ScriptedNode:
    """Answers eth_simulateV1 with the given call results, one answer per request."""

    def __init__(self, *answers: dict[str, Any]) -> None:
        self.answers = list(answers)
        self.requests = 0

    async def request(self, method: str, params: Sequence[Any] = ()) -> Any:
        assert method == "eth_simulateV1"
        assert params[1] == "latest"
        self.requests += 1
        return [{"calls": [self.answers.pop(0)]}]


def _executor(node: ScriptedNode) -> InventoryExecutor:
    sender = SimpleNamespace(signer=SimpleNamespace(address="0x" + "11" * 20))
    return InventoryExecutor(
        cast("ChainClient", node),
        cast("TxSender", sender),
        pool="0x" + "22" * 20,
        receipt_timeout_s=1.0,
    )


BUNDLE = [("0x" + "22" * 20, "0x00")]


@pytest.mark.asyncio
async def test_a_failure_that_does_not_repeat_is_the_nodes():
    node = ScriptedNode(PANIC, OK)
    assert await _executor(node)._simulate_bundle(BUNDLE) == (200_000, 200_000)
    assert node.requests == 2


@pytest.mark.asyncio
async def test_a_failure_that_repeats_drops_the_plan():
    node = ScriptedNode(PANIC, PANIC)
    result = await _executor(node)._simulate_bundle(BUNDLE)
    assert isinstance(result, str)
    assert "execution failed" in result
    assert node.requests == 2


@pytest.mark.asyncio
async def test_a_success_costs_one_request():
    node = ScriptedNode(OK)
    assert await _executor(node)._simulate_bundle(BUNDLE) == (200_000, 200_000)
    assert node.requests == 1
