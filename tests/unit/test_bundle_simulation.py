"""A failed pre-send simulation is run once more before the plan is dropped.

Anvil can answer a read at "latest" with the state of the block it is still mining under the
previous header (seen as Aave's interest math underflowing, panic 0x11): a failure seen once may
be the node's, not the plan's.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from pydantic import SecretStr

from keeper.chain.client import ChainClient
from keeper.core.market import Call
from keeper.execution.fees import FeePolicy
from keeper.execution.journal_sqlite import SqliteJournal
from keeper.execution.sender import TxSender
from keeper.execution.signer import Signer
from keeper.execution.transactor import Transactor
from tests.support.fake_market import FakeMarket

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

PANIC = {"status": "0x0", "gasUsed": "0x5208", "error": {"message": "execution failed"}}
OK = {"status": "0x1", "gasUsed": "0x30d40"}


class ScriptedNode(ChainClient):
    """Answers eth_simulateV1 with the given call results, one answer per request."""

    def __init__(self, *answers: dict[str, Any]) -> None:
        super().__init__("http://127.0.0.1:9", retry_s=0)
        self.answers = list(answers)
        self.requests = 0

    async def request(self, method: str, params: Sequence[Any] = (), **_: Any) -> Any:
        assert method == "eth_simulateV1"
        assert params[1] == "latest"
        self.requests += 1
        return [{"calls": [self.answers.pop(0)]}]


@pytest.fixture
def transactor(tmp_path: Path):
    def build(node: ScriptedNode) -> Transactor:
        signer = Signer(SecretStr("0x" + "59" * 32))
        journal = SqliteJournal(tmp_path / "j.sqlite", 1)
        sender = TxSender(node, signer, journal, FeePolicy(Decimal(100), Decimal(2)), chain_id=1)
        return Transactor(node, sender, FakeMarket(), receipt_timeout_s=1.0)

    return build


BUNDLE = [Call("0x" + "22" * 20, "0x00")]


@pytest.mark.asyncio
async def test_a_failure_that_does_not_repeat_is_the_nodes(transactor):
    """A failed simulation that passes on the second run lets the plan go on."""
    node = ScriptedNode(PANIC, OK)
    assert await transactor(node).simulate(BUNDLE) == (200_000, 200_000)
    assert node.requests == 2


@pytest.mark.asyncio
async def test_a_failure_that_repeats_drops_the_plan(transactor):
    """A failure seen twice drops the plan with the node's reason."""
    node = ScriptedNode(PANIC, PANIC)
    result = await transactor(node).simulate(BUNDLE)
    assert isinstance(result, str)
    assert "execution failed" in result
    assert node.requests == 2


@pytest.mark.asyncio
async def test_a_success_costs_one_request(transactor):
    """A simulation that passes is not repeated."""
    node = ScriptedNode(OK)
    assert await transactor(node).simulate(BUNDLE) == (200_000, 200_000)
    assert node.requests == 1
