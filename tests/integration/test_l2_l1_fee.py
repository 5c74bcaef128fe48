"""The OP stack's L1 data fee on Anvil ``--network optimism`` with the real GasPriceOracle.

The oracle and L1Block are the runtime code of ``@eth-optimism/contracts-bedrock``'s forge
artifacts placed at their predeploys (keeper/devnet/l2.py), post-Fjord, with L1 values written
into L1Block as the sequencer's L1-attributes deposit would.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import pytest

from keeper.app import BlockReport, run_keeper
from keeper.chain.client import ChainClient
from keeper.chain.l1_fee import GAS_PRICE_ORACLE_ABI, L1FeeModel, L1FeeReader, open_reader
from keeper.core.plan import SkipKind
from keeper.devnet.deployer import Deployer
from keeper.devnet.l2 import GAS_PRICE_ORACLE, L1Values, install_gas_price_oracle, set_l1_values
from keeper.devnet.scenarios import shock_price
from keeper.errors import ConfigError
from keeper.localnode.anvil import Anvil, AnvilOptions
from tests.integration.conftest import KEEPER_ADDRESS, Devnet
from tests.integration.helpers import account_data, keeper_settings, liquidation_events

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.integration.conftest import Snapshot

pytestmark = pytest.mark.integration

WAD = 10**18
WAIT_S = 90


def fjord_upper_bound(size: int, values: L1Values) -> int:
    """GasPriceOracle.getL1FeeUpperBound, written out from its Solidity (0.17.3 artifacts)."""
    tx_size = size + 68
    flz = tx_size + tx_size // 255 + 16
    estimated = max(-42_585_600 + 836_500 * flz, 100 * 10**6)
    scaled = (
        values.base_fee_scalar * 16 * values.base_fee
        + values.blob_base_fee_scalar * values.blob_base_fee
    )
    return estimated * scaled // 10**12


@pytest.mark.asyncio
async def test_the_real_gas_price_oracle_answers_a_non_zero_fee_the_keeper_reads():
    """On Anvil --network optimism with the predeploys placed, the keeper's reader returns the
    oracle's getL1FeeUpperBound of the bounded transaction size (non-zero, equal to the
    formula), and the exact getL1Fee of a real-sized transaction is below it; on a chain
    without the predeploy the op_stack model stops the start with a ConfigError.
    """
    values = L1Values()
    with Anvil(AnvilOptions(network="optimism")) as anvil:
        async with ChainClient(anvil.url) as chain:
            await install_gas_price_oracle(chain, values)
            reader = L1FeeReader(chain, L1FeeModel.OP_STACK)
            await reader.check("0x" + "00" * 20)
            fee = await reader.fee_wei(324, 1, to="0x" + "00" * 20)
            assert fee > 0
            assert fee == fjord_upper_bound(91 + 324, values)
            # A liquidationCall-sized unsigned transaction of random-looking bytes.
            raw = await chain.call(
                GAS_PRICE_ORACLE, GAS_PRICE_ORACLE_ABI.encode("getL1Fee", bytes(range(255)))
            )
            exact = int(GAS_PRICE_ORACLE_ABI.decode("getL1Fee", raw)[0])
            assert 0 < exact <= fee
    with Anvil() as plain:
        async with ChainClient(plain.url) as chain:
            with pytest.raises(ConfigError, match="l1_fee_model"):
                await L1FeeReader(chain, L1FeeModel.OP_STACK).check("0x" + "00" * 20)


@pytest.fixture
def op_devnet(snapshot_v36: Snapshot) -> Iterator[Devnet]:
    """The v3.6 world on an Anvil in OP-stack mode (stopped after the test, pass or fail)."""
    with Anvil(AnvilOptions(load_state=snapshot_v36.state, network="optimism")) as anvil:
        yield Devnet(anvil, snapshot_v36.world)


# An L1 base fee that makes the data fee of one transaction dearer than any liquidation of the
# world (about 545 ETH at this size), while the L2 gas stays cheap.
RUINOUS = L1Values(base_fee=4 * 10**19)


@pytest.mark.asyncio
async def test_a_plan_the_l1_fee_makes_unprofitable_is_skipped_then_sent_when_it_is_cheap(
    op_devnet, tmp_path
):
    """With an L1 data fee above every liquidation's profit, the keeper on the OP-stack devnet
    skips every candidate with the typed ``unprofitable_l1_fee`` reason and sends nothing; once
    the L1 fee is back to an ordinary level it liquidates them.
    """
    devnet = op_devnet
    market = devnet.world.market
    reports: list[BlockReport] = []
    stop = asyncio.Event()
    async with ChainClient(devnet.url) as chain:
        await Deployer(chain).impersonate_all()
        await install_gas_price_oracle(chain)
        shock = await shock_price(chain, market.pool_addresses_provider, "WETH", -30)
        await set_l1_values(chain, RUINOUS)
        nonce = int(await chain.request("eth_getTransactionCount", [KEEPER_ADDRESS, "latest"]), 16)
        settings = keeper_settings(devnet, tmp_path, l1_fee_model="op_stack")
        reader = await open_reader(settings.l1_fee_model, chain, 31337, market.pool)
        assert reader is not None
        task = asyncio.create_task(run_keeper(settings, stop, reports.append))
        try:
            deadline = time.monotonic() + WAIT_S
            while time.monotonic() < deadline and not any(r.skips for r in reports):
                await chain.request("evm_mine", [])
                await asyncio.sleep(0.3)
            skips = [s for r in reports for s in r.skips]
            assert skips, "the keeper saw the candidates"
            # Tiny positions may not even pay the L2 gas; every other one fails on the L1 fee.
            kinds = {s.kind for s in skips}
            assert SkipKind.UNPROFITABLE_L1_FEE in kinds, skips[:3]
            assert kinds <= {SkipKind.UNPROFITABLE_L1_FEE, SkipKind.UNPROFITABLE}, skips[:3]
            l1_skips = [s for s in skips if s.kind is SkipKind.UNPROFITABLE_L1_FEE]
            assert all("L1 data fee" in s.reason for s in l1_skips)
            assert await liquidation_events(chain, market.pool, shock.block) == []
            sent = int(
                await chain.request("eth_getTransactionCount", [KEEPER_ADDRESS, "latest"]), 16
            )
            assert sent == nonce

            await set_l1_values(chain, L1Values())
            held = {s.account for s in l1_skips}

            async def liquidated() -> bool:
                health = [(await account_data(chain, market.pool, a)).health_factor for a in held]
                return all(hf >= WAD for hf in health)

            deadline = time.monotonic() + WAIT_S
            while time.monotonic() < deadline and not await liquidated():
                await chain.request("evm_mine", [])
                await asyncio.sleep(0.3)
            assert await liquidated(), "liquidated once the L1 fee is ordinary"
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)
    outcomes = [o for r in reports for o in r.outcomes]
    assert outcomes and all(o.status == "liquidated" for o in outcomes), [
        (o.status, o.reason) for o in outcomes
    ]
