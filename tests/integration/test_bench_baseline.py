"""The benchmark's baseline bot (bench/baseline) really liquidates on the devnet."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bench.world_cache import BASELINE_ADDRESS, BASELINE_KEY
from keeper.chain.client import ChainClient
from keeper.devnet.scenarios import fund_keeper, shock_price
from keeper.protocols.aave_v3.market import ERC20
from tests.integration.helpers import account_data, liquidation_events

pytestmark = pytest.mark.integration
WAD = 10**18
ROOT = Path(__file__).resolve().parents[2]


def _events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


GWEI = 10**9
BUDGET = 3 * GWEI  # the bot's default tip cap


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", ["x1.2", "share"])
async def test_baseline_bot_liquidates_only_liquidatable_accounts(devnet, tmp_path, mode):
    """Funded like our keeper, the baseline approves each reserve without limit at start and,
    after a WETH -30% shock, liquidates accounts that were below health factor 1 at the shock,
    as legacy transactions; SIGTERM stops it with exit 0. Its tip over the base fee: about
    1.2 gwei at eth_gasPrice x 1.2 (Anvil suggests 1 gwei), and in share mode half its expected
    profit per gas, which after such a shock is far above the 3 gwei budget: the budget.
    """
    out = tmp_path / "baseline.log"
    share = ["--bid-share-bps", "5000", "--native-asset", devnet.world.asset("WETH").address]
    async with ChainClient(devnet.url) as client:
        await fund_keeper(client, devnet.world.market, BASELINE_ADDRESS)
        with out.open("w") as fh:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bench.baseline.bot",
                    "--rpc-url",
                    devnet.url,
                    "--provider",
                    devnet.world.market.pool_addresses_provider,
                    *(share if mode == "share" else []),
                ],
                env={**os.environ, "BASELINE_PRIVATE_KEY": BASELINE_KEY},
                stdout=fh,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
            try:
                deadline = time.monotonic() + 60
                while not any(e["event"] == "started" for e in _events(out)):
                    assert proc.poll() is None, out.read_text()
                    assert time.monotonic() < deadline, "the baseline did not start"
                    await asyncio.sleep(0.1)
                weth = devnet.world.asset("WETH").address
                raw = await client.call(
                    weth, ERC20.encode("allowance", BASELINE_ADDRESS, devnet.world.market.pool)
                )
                assert ERC20.decode("allowance", raw)[0] == 2**256 - 1
                shock = await shock_price(
                    client, devnet.world.market.pool_addresses_provider, "WETH", -30
                )
                ours: list[dict[str, Any]] = []
                while not ours and time.monotonic() < deadline + 60:
                    events = await liquidation_events(client, devnet.world.market.pool, shock.block)
                    ours = [e for e in events if e["liquidator"] == BASELINE_ADDRESS]
                    await asyncio.sleep(0.2)
                assert ours, out.read_text()[-2000:]
                for event in ours:
                    before = await account_data(
                        client, devnet.world.market.pool, event["user"], shock.block
                    )
                    assert before.health_factor < WAD
                sent = [e for e in _events(out) if e["event"] == "sent"]
                assert sent
                tx = await client.request("eth_getTransactionByHash", [sent[0]["tx_hash"]])
                assert int(tx["type"], 16) == 0
                receipt = await client.wait_receipt(sent[0]["tx_hash"], timeout_s=30)
                assert receipt is not None
                block = await client.get_block(receipt.block_number)
                tip = receipt.effective_gas_price - int(block["baseFeePerGas"], 16)
                if mode == "share":
                    assert BUDGET - GWEI // 1000 <= tip <= BUDGET, [
                        (e["gas_price"], e["expected_profit_base"]) for e in sent
                    ]
                else:
                    assert 1_100_000_000 <= tip <= 1_300_000_000
            finally:
                proc.send_signal(signal.SIGTERM)
                code = proc.wait(timeout=30)
    assert code == 0, out.read_text()[-2000:]
