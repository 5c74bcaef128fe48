"""The reaction path reads nothing the engine already knows; the chain checks it afterwards.

A real JSON-RPC proxy (tests/reliability/fault_proxy.py, forwarding to Anvil, no faults)
records every request item in order. From the shock block's logs to the first liquidation
broadcast, the keeper sends no ``getUserAccountData``, no ``balanceOf`` and no ``allowance``
read: candidates and plans come from the tracked state. The accounts acted on are compared
with ``getUserAccountData`` after the broadcast, and a local state made wrong on purpose is
caught there, counted, and the account is not acted on from local data again until the chain
agrees.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import pytest
from structlog.testing import capture_logs

from keeper.chain.client import ChainClient
from keeper.core.outcome import OutcomeStatus
from keeper.devnet.liquidator import deploy_keeper_liquidator
from keeper.devnet.scenarios import shock_price
from keeper.protocols.aave_v3.connect import connect
from keeper.protocols.aave_v3.market import ERC20, POOL
from tests.integration.conftest import KEEPER_ADDRESS
from tests.integration.helpers import aave_keeper, keeper_settings, run_through_shock
from tests.reliability.fault_proxy import FaultProxy

if TYPE_CHECKING:
    from pathlib import Path

    from tests.integration.conftest import Devnet

pytestmark = pytest.mark.integration
WAD = 10**18
# Reads whose answers the engine holds (account data) or that are plan inputs read after
# acting now (reserve cash, our balances, our allowances).
KNOWN = {
    POOL.encode("getUserAccountData", KEEPER_ADDRESS)[:10]: "getUserAccountData",
    ERC20.encode("balanceOf", KEEPER_ADDRESS)[:10]: "balanceOf",
    ERC20.encode("allowance", KEEPER_ADDRESS, KEEPER_ADDRESS)[:10]: "allowance",
}


def _read_of(item: dict[str, Any]) -> str | None:
    """The name of a known read an ``eth_call`` item makes (None: another request)."""
    if item.get("method") != "eth_call":
        return None
    data = str((item.get("params") or [{}])[0].get("data", ""))
    return KNOWN.get(data[:10])


def _logs_of_block(item: dict[str, Any], block: int, block_hash: str) -> bool:
    """Whether an ``eth_getLogs`` item fetches the logs of ``block``."""
    if item.get("method") != "eth_getLogs":
        return False
    query = (item.get("params") or [{}])[0]
    if query.get("blockHash", "").lower() == block_hash.lower():
        return True
    try:
        return int(query["fromBlock"], 16) <= block <= int(query["toBlock"], 16)
    except (KeyError, TypeError, ValueError):
        return False


@pytest.mark.asyncio
async def test_no_known_read_between_the_shock_block_and_the_first_broadcast(
    devnet: Devnet, tmp_path: Path
) -> None:
    """During a WETH -40% shock the keeper (our contract's inventory path) goes from the shock
    block's logs to its first liquidation broadcast without a getUserAccountData, balanceOf or
    allowance read, and afterwards checks the accounts it acted on with getUserAccountData.
    """
    async with ChainClient(devnet.url) as direct:
        contract = await deploy_keeper_liquidator(direct, devnet.world, KEEPER_ADDRESS)
    async with FaultProxy(devnet.url) as proxy:
        settings = keeper_settings(
            _Via(proxy.url, devnet), tmp_path, flash_liquidator=contract, reconcile_sample=0
        )
        proxy.record = True
        reports, shock = await run_through_shock(
            settings, devnet.url, devnet.world.market.pool_addresses_provider, "WETH", -40
        )
    liquidated = [o for r in reports for o in r.outcomes if o.status is OutcomeStatus.LIQUIDATED]
    assert liquidated, "nothing was liquidated"
    async with ChainClient(devnet.url) as direct:
        block = await direct.get_block(shock.block)
    log = proxy.log
    start = next(
        i for i, item in enumerate(log) if _logs_of_block(item, shock.block, block["hash"])
    )
    sent = next(
        i for i in range(start, len(log)) if log[i].get("method") == "eth_sendRawTransaction"
    )
    on_path = [item.get("method") for item in log[start:sent]]
    known = [_read_of(item) for item in log[start:sent] if _read_of(item)]
    assert known == [], (known, on_path)
    after = [_read_of(item) for item in log[sent:]]
    assert "getUserAccountData" in after, "the accounts acted on were not checked afterwards"
    checked = {
        str(item["params"][0]["data"])[-40:]
        for item in log[sent:]
        if _read_of(item) == "getUserAccountData"
    }
    assert {o.plan.account.lower()[2:] for o in liquidated} <= checked


@pytest.mark.asyncio
async def test_a_wrong_local_state_is_caught_after_acting_and_read_on_chain_next_time(
    devnet: Devnet, tmp_path: Path
) -> None:
    """An account whose local state is made wrong is still a candidate from local data (no
    read on the reaction path), but the check after acting finds the difference: logged as
    health_mismatch, counted, the account re-read with the next block and checked on chain
    (getUserAccountData) before it is a candidate again; once the chain agrees it is trusted.
    """
    async with FaultProxy(devnet.url) as proxy:
        settings = keeper_settings(_Via(proxy.url, devnet), tmp_path)
        client, chain_id, market = await connect(settings)
        try:
            await shock_price(client, market.addresses_provider, "WETH", -40)
            _keeper, aave = aave_keeper(settings, client, chain_id, market)
            await aave.start()
            engine = aave.monitor.engine
            victim = aave.below_one()[0]
            state = engine.accounts[victim]
            index, scaled = next(iter(state.scaled_variable_debt.items()))
            wrong = dataclasses.replace(
                state, scaled_variable_debt={**state.scaled_variable_debt, index: scaled + 10**6}
            )
            engine.upsert([wrong])  # the local state now differs from the Pool's
            proxy.record = True
            candidates = await aave.confirm(aave.below_one())
            assert victim in {c.account for c in candidates}
            assert [_read_of(i) for i in proxy.log if _read_of(i)] == []  # nothing read
            with capture_logs() as logs:
                await aave.check_after_acting(KEEPER_ADDRESS)
            assert aave.mismatches >= 1
            assert any(e["event"] == "health_mismatch" and e["account"] == victim for e in logs)
            assert victim in aave.monitor.suspects
            # Its state read comes with the next block: until then it is not acted on.
            assert victim not in {c.account for c in await aave.confirm([victim])}
            await client.request("evm_mine", [])
            await aave.advance(defer=False)
            proxy.log.clear()
            again = await aave.confirm([victim])
            checked = [_read_of(i) for i in proxy.log if _read_of(i)]
            assert checked == ["getUserAccountData"]  # the suspect was read on chain
            assert [c.account for c in again] == [victim]
            assert victim not in aave.monitor.suspects  # the chain agrees with the re-read
            proxy.log.clear()
            await aave.confirm([victim])
            assert [_read_of(i) for i in proxy.log if _read_of(i)] == []  # trusted again
        finally:
            await client.close()


class _Via:
    """What ``keeper_settings`` reads of a devnet, with its URL replaced by the proxy's."""

    def __init__(self, url: str, devnet: Devnet) -> None:
        self.url = url
        self.world = devnet.world
