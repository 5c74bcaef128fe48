"""Node and network faults between the keeper and its node, injected by the fault proxy."""

from __future__ import annotations

import pytest

from keeper.chain.client import ChainClient
from keeper.devnet.scenarios import shock_price
from tests.reliability.fault_proxy import GETH_ERRORS, Fault, FaultProxy
from tests.reliability.harness import Keeper, assert_clean, run_to_clean_end

pytestmark = [pytest.mark.integration, pytest.mark.reliability]


async def _scenario(devnet, tmp_path, faults: list[Fault], *, keep: bool) -> FaultProxy:
    """Start behind the proxy with ``faults`` on, shock WETH -30%, clear the faults unless
    ``keep``, and check the clean end.
    """
    async with FaultProxy(devnet.url) as proxy, ChainClient(devnet.url) as chain:
        proxy.faults = list(faults)
        keeper = await Keeper.start(proxy.url, tmp_path)
        try:
            shock = await shock_price(
                chain, devnet.world.market.pool_addresses_provider, "WETH", -30
            )
            if not keep:
                await keeper.daemon.wait_event("liquidation_attempt", 60)
                proxy.clear()
            assert_clean(await run_to_clean_end(chain, devnet, keeper, shock.block))
        finally:
            code, _ = await keeper.daemon.stop()
        assert code == 0, "".join(keeper.daemon.err[-20:])
    assert sum(proxy.injected.values()) > 0, "the faults must have happened"
    return proxy


@pytest.mark.slow_reliability
@pytest.mark.asyncio
async def test_random_5xx_and_429_on_every_method_for_the_whole_run(devnet, tmp_path):
    """20% of all requests (sends included) fail with 500, 502 or 429 from start to end."""
    faults = [
        Fault("*", "status", 0.07, status=500),
        Fault("*", "status", 0.07, status=502),
        Fault("*", "status", 0.07, status=429),
    ]
    proxy = await _scenario(devnet, tmp_path, faults, keep=True)
    assert any(k.startswith("eth_sendRawTransaction") for k in proxy.injected), proxy.injected


@pytest.mark.slow_reliability
@pytest.mark.asyncio
async def test_latency_spikes_beyond_the_deadline(devnet, tmp_path):
    """15% of requests hang past the keeper's 2 s deadline, others are slowed by 300 ms."""
    faults = [Fault("*", "hang", 0.15, seconds=2.5), Fault("*", "latency", 0.2, seconds=0.3)]
    await _scenario(devnet, tmp_path, faults, keep=False)


@pytest.mark.asyncio
async def test_send_forwarded_but_its_answer_dropped(devnet, tmp_path):
    """Every eth_sendRawTransaction reaches the node but the keeper never hears the answer
    (the connection is reset after forwarding): nothing is sent twice, everything lands.
    """
    faults = [Fault("eth_sendRawTransaction", "drop_answer", 1.0)]
    proxy = await _scenario(devnet, tmp_path, faults, keep=True)
    assert proxy.injected["eth_sendRawTransaction:drop_answer"] >= 2


@pytest.mark.asyncio
async def test_malformed_answers_wrong_types_and_resets(devnet, tmp_path):
    """Unreadable JSON, results of the wrong type and reset connections, 5% each, throughout."""
    faults = [
        Fault("*", "malformed", 0.05),
        Fault("*", "wrong_type", 0.05),
        Fault("*", "reset", 0.05),
    ]
    await _scenario(devnet, tmp_path, faults, keep=True)


@pytest.mark.asyncio
async def test_geth_send_errors_answered_without_forwarding(devnet, tmp_path):
    """The first sends are refused with geth's own strings ("replacement transaction
    underpriced", "nonce too low", "already known", "max fee per gas less than block base
    fee") without reaching the node: the keeper re-quotes, resyncs or rebroadcasts, and still
    liquidates everything once, with no nonce gap.
    """
    faults = [
        Fault("eth_sendRawTransaction", "error", 1.0, message=text, limit=1)
        for text in GETH_ERRORS.values()
    ]
    proxy = await _scenario(devnet, tmp_path, faults, keep=True)
    assert len([k for k in proxy.injected if k.endswith(":error")]) == 1
    assert proxy.injected["eth_sendRawTransaction:error"] == len(GETH_ERRORS)
