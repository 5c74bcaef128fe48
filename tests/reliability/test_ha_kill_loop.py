"""The HA pair killed over and over: kill -9 the active at every point, round after round.

Two `keeper run` processes on one key, one PostgreSQL journal, an Anvil mining a block every
second with the Aave world. Each round a price shock makes accounts liquidatable; the active
dies at that round's point (tests.support.ha_keeper); the standby takes over; the dead one
comes back as the standby (with the point of a later round). At the end every liquidatable
account of every round is liquidated, and the journal is clean against the chain.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING

import pytest

from keeper.chain.client import ChainClient
from keeper.devnet.scenarios import shock_price
from keeper.localnode.anvil import Anvil, AnvilOptions
from tests.integration.conftest import KEEPER_ADDRESS, Devnet
from tests.reliability.harness import liquidatable, wait_liquidated
from tests.reliability.test_chain_faults import shock_price_unmined
from tests.support.ha_pair import (
    BLOCK_S,
    RENEW_S,
    TTL_S,
    HaKeeper,
    assert_clean,
    check_journal,
    dump,
    start_keeper,
    stop_all,
    wait_quiet,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from keeper.chain.client import ChainClient as Chain

pytestmark = [pytest.mark.integration, pytest.mark.reliability, pytest.mark.slow_reliability]
# (where the active dies, the round's WETH move in %); the replacement round strands the
# active's transactions behind a base-fee spike so that it replaces them.
ROUNDS = [
    ("before_send:1", -20),
    ("after_send:2", -6),
    ("before_sign:1", -6),
    ("after_send:1", -6),
    ("replacement:1", -6),
]
SPIKE_WEI = 50 * 10**9
FAULT_WAIT_S = 40.0  # a round whose point never comes (no candidate) ends with a plain SIGKILL
TAKEOVER_BOUND_S = TTL_S + RENEW_S + 2 * BLOCK_S + 10.0


@pytest.fixture
def devnet_1s(snapshot) -> Iterator[Devnet]:
    """The Aave world on an Anvil that mines a block every second."""
    with Anvil(AnvilOptions(load_state=snapshot.state, block_time=BLOCK_S)) as anvil:
        yield Devnet(anvil, snapshot.world)


async def _dies(keeper: HaKeeper) -> tuple[float, str]:
    """When and how the active died: by its fault hook, or by SIGKILL once it waited long."""
    assert keeper.daemon.proc is not None
    try:
        await asyncio.wait_for(keeper.daemon.proc.wait(), FAULT_WAIT_S)
    except TimeoutError:
        return await keeper.kill(), "sigkill"
    hook = keeper.first("fault_kill")
    assert hook is not None, "".join(keeper.daemon.err[-30:])
    return float(hook["at"]), str(hook["point"])


async def _stranded_shock(chain: Chain, devnet: Devnet, active: HaKeeper, pct: int) -> int:
    """The shock with block production paused: once the active's first liquidation waits in
    the pool, the next block's base fee jumps above its fees, so that the active replaces
    them (and dies doing it); then blocks come every second again. The shock's block.
    """
    await chain.request("evm_setIntervalMining", [0])
    try:
        sent_before = len(active.daemon.events("transaction_sent"))
        await shock_price_unmined(chain, devnet, "WETH", pct)
        await chain.request("evm_mine", [])
        shock_block = await chain.block_number()
        deadline = time.monotonic() + FAULT_WAIT_S
        while time.monotonic() < deadline and active.alive:
            sent = active.daemon.events("transaction_sent")[sent_before:]
            if any(e["purpose"] == "liquidation" for e in sent):
                break
            await asyncio.sleep(0.05)
        await chain.request("anvil_setNextBlockBaseFeePerGas", [hex(SPIKE_WEI)])
        await chain.request("evm_mine", [])
        deadline = time.monotonic() + FAULT_WAIT_S
        while time.monotonic() < deadline and active.alive:
            await asyncio.sleep(0.05)
    finally:
        await chain.request("evm_setIntervalMining", [int(BLOCK_S)])
    return shock_block


@pytest.mark.timeout(1200)
@pytest.mark.asyncio
async def test_the_active_killed_at_every_point_over_rounds_of_shocks(devnet_1s, pg_url, tmp_path):
    """Five rounds, each killing the active at one point (before a send, between signing and
    sending, after a broadcast, between a replacement's signing and sending): every
    liquidatable account is liquidated, no nonce used twice or skipped, no plan sent twice,
    every transaction of the key journaled once with nothing open, and each takeover within
    the lease time plus two blocks (the figures are written beside the test's files).
    """
    devnet = devnet_1s
    provider = devnet.world.market.pool_addresses_provider
    figures: list[dict[str, object]] = []
    async with ChainClient(devnet.url) as chain:
        first_nonce = await chain.get_transaction_count(KEEPER_ADDRESS, "latest")
        first_block = await chain.block_number()
        active = await start_keeper("k0", devnet.url, pg_url, tmp_path)
        keepers = [active]
        try:
            await active.daemon.wait_event("takeover_done", 60)
            standby = await start_keeper("k1", devnet.url, pg_url, tmp_path)
            keepers.append(standby)
            for number, (point, pct) in enumerate(ROUNDS):
                active.arm(point)
                if point.startswith("replacement"):
                    shock_block = await _stranded_shock(chain, devnet, active, pct)
                else:
                    shock_block = (await shock_price(chain, provider, "WETH", pct)).block
                wanted = await liquidatable(chain, devnet, shock_block)
                died_at, how = await _dies(active)
                acquired = await standby.daemon.wait_event("lease_acquired", 60)
                # The dead one comes back at once, as the standby of the next round.
                revived = await start_keeper(f"k{number + 2}", devnet.url, pg_url, tmp_path)
                keepers.append(revived)
                adopted = await standby.daemon.wait_event("takeover_done", 120)
                figures.append(
                    {
                        "round": number,
                        "point": point,
                        "died": how,
                        "liquidatable": len(wanted),
                        "lease_s": round(acquired["at"] - died_at, 2),
                        "adopted_s": round(adopted["at"] - died_at, 2),
                    }
                )
                assert acquired["at"] - died_at <= TAKEOVER_BOUND_S, figures[-1]
                done = await wait_liquidated(chain, devnet, wanted, shock_block, seconds=120)
                assert done >= wanted, (figures[-1], sorted(wanted - done)[:5])
                await wait_quiet(pg_url)  # the round settled: the next one starts clean
                active, standby = standby, revived
            await wait_quiet(pg_url)
            found = await check_journal(chain, pg_url, first_nonce, first_block)
        finally:
            (tmp_path / "takeovers.json").write_text(json.dumps(figures, indent=1))
            dump(pg_url, tmp_path / "journal.txt")
            print("takeovers:", json.dumps(figures))  # noqa: T201 - the figures, for the record
            await stop_all(keepers, tmp_path)
    assert_clean(found)
    assert found.lease_epoch == len(ROUNDS) + 1  # one takeover per round, epochs only grow
    assert [f["died"] for f in figures] == [p.split(":")[0] for p, _ in ROUNDS], figures
