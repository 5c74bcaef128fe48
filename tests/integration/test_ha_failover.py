"""Two keepers on one key, one PostgreSQL journal: one sends, the other takes over.

Real parts only: an Anvil devnet mining a block every second with the Aave world, a real
PostgreSQL server (tests.conftest.postgres), and `keeper run` processes
(tests.support.ha_keeper: the CLI with a fault hook that dies like kill -9 at a chosen point).
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
from tests.integration.helpers import liquidation_events
from tests.reliability.harness import liquidatable, wait_liquidated
from tests.support.ha_pair import (
    BLOCK_S,
    RENEW_S,
    TTL_S,
    assert_clean,
    check_journal,
    start_keeper,
    stop_all,
    wait_quiet,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.integration
# Takeover bound by design: the lease lapses TTL_S after the dead active's last renewal and
# the standby asks every RENEW_S; the figure is measured and reported, the bound is generous
# for a loaded machine (processes starved of CPU for seconds).
TAKEOVER_BOUND_S = TTL_S + RENEW_S + 2 * BLOCK_S + 10.0


@pytest.fixture
def devnet_1s(snapshot) -> Iterator[Devnet]:
    """The Aave world on an Anvil that mines a block every second (as a live chain does)."""
    with Anvil(AnvilOptions(load_state=snapshot.state, block_time=BLOCK_S)) as anvil:
        yield Devnet(anvil, snapshot.world)


@pytest.mark.asyncio
async def test_a_killed_active_is_replaced_by_the_standby_with_no_double_send(
    devnet_1s, pg_url, tmp_path
):
    """Keeper A takes the lease, keeper B starts as standby (it follows and plans, sends
    nothing). After a -30% WETH shock A dies like kill -9 between journaling its second
    broadcast and sending it. B acquires the lease (a failover) within the lease time plus
    two blocks, adopts the journal (the signed bytes are broadcast: the same transaction),
    and liquidates every liquidatable account. A restarted comes back as standby. The
    journal holds every transaction of the key once, nothing open, no nonce used twice or
    skipped, no plan sent twice.
    """
    devnet = devnet_1s
    async with ChainClient(devnet.url) as chain:
        first_nonce = await chain.get_transaction_count(KEEPER_ADDRESS, "latest")
        first_block = await chain.block_number()
        a = await start_keeper("a", devnet.url, pg_url, tmp_path, fault="before_send:2")
        keepers = [a]
        try:
            await a.daemon.wait_event("takeover_done", 60)
            b = await start_keeper("b", devnet.url, pg_url, tmp_path)
            keepers.append(b)
            status_a, status_b = await a.status(), await b.status()
            assert status_a is not None and status_a["role"] == "active"
            assert status_b is not None and status_b["role"] == "standby"
            shock = await shock_price(
                chain, devnet.world.market.pool_addresses_provider, "WETH", -30
            )
            wanted = await liquidatable(chain, devnet, shock.block)
            assert len(wanted) >= 5
            assert a.daemon.proc is not None
            assert await asyncio.wait_for(a.daemon.proc.wait(), 60) == 9
            killed = a.first("fault_kill")
            assert killed is not None
            acquired = await b.daemon.wait_event("lease_acquired", 60)
            assert acquired["failover"] is True and acquired["epoch"] == 2
            takeover_s = acquired["at"] - killed["at"]
            assert takeover_s <= TAKEOVER_BOUND_S, takeover_s
            adopted = await b.daemon.wait_event("takeover_done", 60)
            figures = {"lease_s": takeover_s, "adopted_s": adopted["at"] - killed["at"]}
            (tmp_path / "takeover.json").write_text(json.dumps(figures))
            print("takeover after the kill:", figures)  # noqa: T201 - the figures, for the record
            assert b.daemon.events("standby_planned"), "the standby planned before taking over"
            done = await wait_liquidated(chain, devnet, wanted, shock.block)
            assert done >= wanted, sorted(wanted - done)[:5]
            a2 = await start_keeper("a2", devnet.url, pg_url, tmp_path)
            keepers.append(a2)
            status = await a2.status()
            assert status is not None and status["role"] == "standby"
            await wait_quiet(pg_url)
            found = await check_journal(chain, pg_url, first_nonce, first_block)
            assert_clean(found)
            assert found.epochs == {1, 2}
            assert not a2.daemon.events("transaction_sent")
        finally:
            await stop_all(keepers, tmp_path)


@pytest.mark.asyncio
async def test_postgres_stopped_under_the_active_stops_sending_then_one_active_again(
    devnet_1s, postgres, pg_url, tmp_path
):
    """With both keepers running, PostgreSQL is stopped (like a crash of its host). The
    active cannot renew: it logs lease_lost within the lease time and sends nothing from the
    moment the database went away (every send needs a journal write); a shock during the
    outage is not acted on. PostgreSQL restarted, exactly one keeper acquires the lease, the
    other stays standby, and the shocked accounts are liquidated with a clean journal.
    """
    devnet = devnet_1s
    async with ChainClient(devnet.url) as chain:
        first_nonce = await chain.get_transaction_count(KEEPER_ADDRESS, "latest")
        first_block = await chain.block_number()
        a = await start_keeper("a", devnet.url, pg_url, tmp_path)
        keepers = [a]
        try:
            await a.daemon.wait_event("takeover_done", 60)
            b = await start_keeper("b", devnet.url, pg_url, tmp_path)
            keepers.append(b)
            stopped_at = time.time()
            postgres.stop()
            lost = await a.daemon.wait_event("lease_lost", 30)
            assert lost["at"] - stopped_at <= TTL_S + RENEW_S + 5.0, lost
            shock = await shock_price(
                chain, devnet.world.market.pool_addresses_provider, "WETH", -30
            )
            wanted = await liquidatable(chain, devnet, shock.block)
            assert len(wanted) >= 5
            await asyncio.sleep(3 * BLOCK_S)  # blocks with candidates, and no writer
            for keeper in keepers:
                assert not keeper.daemon.events("transaction_sent"), keeper.name
                status = await keeper.status()
                assert status is not None and status["role"] == "standby", status
            assert await liquidation_events(chain, devnet.world.market.pool, shock.block) == []
            postgres.start()
            done = await wait_liquidated(chain, devnet, wanted, shock.block)
            assert done >= wanted, sorted(wanted - done)[:5]
            roles = sorted([(await k.status() or {}).get("role", "?") for k in keepers])
            assert roles == ["active", "standby"]
            acquired = [e for k in keepers for e in k.daemon.events("lease_acquired")]
            assert [e["epoch"] for e in acquired] == [1, 2], acquired
            await wait_quiet(pg_url)
            assert_clean(await check_journal(chain, pg_url, first_nonce, first_block))
        finally:
            if not postgres.running:
                postgres.start()
            await stop_all(keepers, tmp_path)
