"""Coinbase bids through our MorphoLiquidator (``coinbase_payment``), on Morpho Blue 1.0.0.

The contract pays the bid to ``block.coinbase`` from its own ether, all-or-nothing with the
liquidation and its profit floor; the keeper caps each head's bids to that ether.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import pytest
from eth_account import Account

from keeper.app import run_keeper
from keeper.chain.client import ChainClient
from keeper.chain.types import Log
from keeper.checks import check_config
from keeper.devnet.artifacts import morpho_artifact, own_artifact
from keeper.devnet.deployer import Deployer, codec_of
from keeper.errors import ConfigError
from keeper.localnode.anvil import DEV_ACCOUNTS, DEV_KEYS
from keeper.protocols.morpho_blue.receipts import liquidate_logs
from keeper.settings import load_settings
from tests.integration.morpho_chain import send
from tests.integration.test_morpho_flash_mode import FRESH_KEY, _deploy
from tests.integration.test_morpho_liquidator import (
    GAS,
    LIQUIDATOR,
    OWNER,
    Setup,
    _revert_data,
    _selector,
)

if TYPE_CHECKING:
    from pathlib import Path

    from keeper.loop.report import BlockReport
    from tests.integration.conftest import MorphoDevnet

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]
ADMIN = DEV_ACCOUNTS[0]
ORACLE = codec_of(morpho_artifact("OracleMock"))
COINBASE = "0x" + "c2" * 20
BID = 10**15
FLOAT = 10**18


async def _send_at(client: ChainClient, to: str, data: str, timestamp: int) -> dict[str, Any]:
    """Mine the owner's call in a block at ``timestamp`` with a zero tip (the coinbase then
    gains only what the contract pays it); its receipt.
    """
    await client.request("evm_setNextBlockTimestamp", [timestamp])
    tx = {"from": OWNER, "to": to, "data": data, "gas": hex(GAS), "maxPriorityFeePerGas": "0x0"}
    tx_hash = await client.request("eth_sendTransaction", [tx])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        receipt = await client.request("eth_getTransactionReceipt", [tx_hash])
        if receipt is not None:
            return dict(receipt)
        await asyncio.sleep(0.05)
    raise AssertionError(f"no receipt for {tx_hash}")


def _profit(receipt: dict[str, Any], contract: str) -> int:
    """The profit of the contract's ``Liquidated`` event in ``receipt``."""
    for raw in receipt["logs"]:
        log = Log.from_rpc(raw)
        if log.address.lower() == contract.lower():
            decoded = LIQUIDATOR.decode_log(log.as_rpc())
            if decoded is not None and decoded[0] == "Liquidated":
                return int(decoded[1]["profit"])
    raise AssertionError("no Liquidated event")


async def test_a_bid_is_paid_exactly_to_the_coinbase_only_with_a_liquidation_that_covers_it(
    morpho_devnet: MorphoDevnet,
) -> None:
    """With 1 ETH in the contract and the same block (timestamp pinned, zero tip), a
    liquidation carrying a bid pays the block's coinbase exactly the bid out of the contract's
    ether, and the owner's loan-token profit equals the no-bid one: the owner's gain is the
    no-bid gain less exactly the bid. With the floor at that exact profit, a bid worth one more
    loan unit reverts the whole liquidation (InsufficientProfit) and pays nothing; a bid above
    the contract's ether reverts too (BidUnpaid) and pays nothing.
    """
    async with ChainClient(morpho_devnet.url) as client:
        s = Setup(client, morpho_devnet)
        await s.build()
        await s.dep.transact(OWNER, s.contract, "0x", value=FLOAT)
        await client.request("anvil_setCoinbase", [COINBASE])
        at = int((await client.get_block())["timestamp"], 16) + 100
        snapshot = await client.request("evm_snapshot", [])
        plain = await _send_at(client, s.contract, s.call(), at)
        assert int(plain["status"], 16) == 1
        profit = _profit(plain, s.contract)
        assert profit > 0
        assert await client.request("evm_revert", [snapshot])
        snapshot = await client.request("evm_snapshot", [])  # a revert consumes its snapshot

        def before() -> Any:
            return asyncio.gather(client.get_balance(COINBASE), client.get_balance(s.contract))

        coinbase, float_ = await before()
        dear = s.call(min_profit=profit, bid=BID, bid_cost=1)
        failed = await _send_at(client, s.contract, dear, at)
        assert int(failed["status"], 16) == 0
        data = await _revert_data(client, OWNER, s.contract, dear)
        assert data.startswith(_selector("InsufficientProfit(uint256,uint256)"))
        data = await _revert_data(client, OWNER, s.contract, s.call(bid=FLOAT + 1))
        assert data.startswith(_selector("BidUnpaid(uint256,uint256)"))
        assert await before() == [coinbase, float_]
        assert await client.request("evm_revert", [snapshot])
        paid = await _send_at(client, s.contract, s.call(min_profit=profit - 1, bid=BID), at)
        assert int(paid["status"], 16) == 1
        assert _profit(paid, s.contract) == profit
        assert await s.balance(s.market.params.loan_token, OWNER) == profit
        assert await before() == [coinbase + BID, float_ - BID]


async def test_the_keeper_caps_its_coinbase_bids_to_the_contracts_ether(
    morpho_devnet: MorphoDevnet, tmp_path: Path
) -> None:
    """A keeper in flash mode with coinbase_payment on, whose contract (deployed and funded by
    `keeper deploy-liquidator --fund-eth`) holds far less ether than the bids the policy wants
    (1,000 wei against bids worth dollars): after a price drop every
    liquidation it sends lands (none reverts on BidUnpaid), and its bids together paid exactly
    the contract's ether, no more.
    """
    world = morpho_devnet.world
    uni = world.uniswap
    assert uni is not None
    journal = tmp_path / "journal.sqlite"
    async with ChainClient(morpho_devnet.url) as client:
        await client.request("anvil_setBalance", [Account.from_key(FRESH_KEY).address, hex(10**19)])
        # 1,000 wei: `--fund-eth` takes ether.
        contract = await asyncio.to_thread(
            _deploy, morpho_devnet.url, world.morpho, uni.router, journal, "--fund-eth", "1e-15"
        )
        assert await client.get_balance(contract) == 1_000
        settings = load_settings(
            rpc_url=morpho_devnet.url,
            protocol="morpho_blue",
            morpho=world.morpho,
            private_key=FRESH_KEY,
            journal_path=str(journal),
            poll_interval_s=0.05,
            ops_port=None,
            execution_mode="flash",
            flash_liquidator=contract,
            uniswap_quoter=uni.quoter,
            min_profit_usd=1,
            coinbase_payment=True,
        )
        reports: list[BlockReport] = []
        stop = asyncio.Event()
        task = asyncio.create_task(run_keeper(settings, stop, reports.append))
        try:
            deadline = time.monotonic() + 180
            while not reports and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert reports, "the keeper never reported a block"
            oracle = world.deployment.market("WETH/USDC").params.oracle
            (price,) = ORACLE.decode("price", await client.call(oracle, ORACLE.encode("price")))
            new = int(price) * 88 // 100
            shocked = (await send(client, ADMIN, oracle, ORACLE.encode("setPrice", new))).block
            while time.monotonic() < deadline and not any(
                r.block > shocked and r.candidates == 0 for r in reports
            ):
                await asyncio.sleep(0.1)
        finally:
            stop.set()
            await asyncio.wait_for(task, 60)
        outcomes = [o for r in reports for o in r.outcomes]
        liquidated = [o for o in outcomes if o.status == "liquidated"]
        assert liquidated, [(o.status, o.reason) for o in outcomes]
        assert len(liquidated) == len(outcomes), [(o.status, o.reason) for o in outcomes]
        events = await liquidate_logs(client, world.morpho, shocked, await client.block_number())
        assert {e.caller for e in events} == {contract}
        assert len(events) == len(liquidated)
        assert await client.get_balance(contract) == 0
        # The outcomes book what the contract paid (the ledger's cost beside the gas).
        assert sum(o.bid_paid_wei for o in liquidated) == 1_000


async def test_check_config_gives_the_bid_float_and_refuses_an_older_morpho_liquidator(
    morpho_devnet: MorphoDevnet,
) -> None:
    """`check-config` with coinbase_payment in flash mode on Morpho reports the ether our
    MorphoLiquidator holds for bids; the same contract whose code lacks the current
    ``liquidate`` (as a MorphoLiquidator deployed before coinbase bids) is refused with a
    ConfigError naming flash_liquidator and the redeployment.
    """
    uni = morpho_devnet.world.uniswap
    assert uni is not None
    async with ChainClient(morpho_devnet.url) as client:
        dep = Deployer(client)
        await dep.impersonate_all()
        contract = await dep.deploy(
            OWNER, own_artifact("MorphoLiquidator"), [morpho_devnet.world.morpho, uni.router]
        )
        await dep.transact(OWNER, contract, "0x", value=12_345)
        settings = load_settings(
            rpc_url=morpho_devnet.url,
            protocol="morpho_blue",
            morpho=morpho_devnet.world.morpho,
            private_key=DEV_KEYS[1],
            execution_mode="flash",
            flash_liquidator=contract,
            uniswap_quoter=uni.quoter,
            coinbase_payment=True,
        )
        report = await check_config(settings)
        assert report["ok"] and report["bid_float_wei"] == 12_345
        code = str(await client.request("eth_getCode", [contract, "latest"])).lower()
        push = "63" + LIQUIDATOR.selector("liquidate")
        assert push in code
        await client.request("anvil_setCode", [contract, code.replace(push, "63" + "ff" * 4)])
        with pytest.raises(ConfigError, match=r"flash_liquidator: .* older MorphoLiquidator"):
            await check_config(settings)
