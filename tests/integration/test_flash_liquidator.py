"""Our FlashLiquidator contract on the devnet: safe by construction, profitable when it runs."""

from __future__ import annotations

import asyncio

import pytest
from eth_utils.crypto import keccak

from keeper.chain.abi import Codec
from keeper.chain.client import ChainClient
from keeper.devnet.artifacts import own_artifact
from keeper.devnet.deployer import Deployer
from keeper.devnet.scenarios import shock_price
from keeper.errors import ContractRevertError, DevnetError
from keeper.localnode.anvil import DEV_ACCOUNTS
from keeper.protocols.aave_v3.market import ERC20, POOL, resolve_market
from keeper.protocols.aave_v3.monitor import MarketMonitor
from keeper.settings import load_settings
from tests.integration.conftest import KEEPER_ADDRESS
from tests.integration.helpers import balance_of

pytestmark = pytest.mark.integration
LIQUIDATOR = Codec.named("FlashLiquidator")
STRANGER = DEV_ACCOUNTS[2]
SCALED = Codec.named("IScaledBalanceToken")
COINBASE = "0x" + "c1" * 20


async def _setup(client: ChainClient, devnet):
    """Deploy the liquidator from the keeper's account; shock WBTC; pick a WBTC-collateral
    account with HF < 0.95 whose debt is USDC.
    """
    dep = Deployer(client)
    await dep.impersonate_all()
    liquidator = await dep.deploy(
        KEEPER_ADDRESS,
        own_artifact("FlashLiquidator"),
        [devnet.world.market.pool, devnet.world.uniswap.router],
    )
    await shock_price(client, devnet.world.market.pool_addresses_provider, "WBTC", -35)
    market = await resolve_market(client, devnet.world.market.pool_addresses_provider)
    monitor = MarketMonitor(
        client,
        market,
        load_settings(rpc_url=devnet.url, pool_addresses_provider=market.addresses_provider),
    )
    await monitor.start()
    wbtc, usdc = devnet.world.asset("WBTC"), devnet.world.asset("USDC")
    for data in monitor.engine.below(95 * 10**16):
        state = monitor.engine.accounts[data.account]
        reserves = {r.asset: r for r in monitor.tracker.reserves.values()}
        coll = {reserves[a].index for a in (wbtc.address,)}
        if (
            state.scaled_collateral.get(next(iter(coll)), 0) > 0
            and state.scaled_variable_debt.get(reserves[usdc.address].index, 0) > 0
            and data.total_debt_base > 500 * 10**8
        ):
            debt = await balance_of(client, usdc.variable_debt_token, data.account)
            return dep, liquidator, data.account, wbtc.address, usdc.address, debt
    pytest.fail("no WBTC-collateral, USDC-debt account below 0.95")


def _liquidate(liquidator_args, **overrides):
    """``liquidate`` with no plan check and no bid unless told (``debt_token``, ``min_scaled``,
    ``bid``, ``bid_cost``).
    """
    args = {
        "swap_fee": 3000,
        "min_out": 0,
        "min_profit": 0,
        "debt_token": "0x" + "00" * 20,
        "min_scaled": 0,
        "bid": 0,
        "bid_cost": 0,
        **overrides,
    }
    coll, debt, user, amount = liquidator_args
    order = (coll, debt, user, amount, args["debt_token"], args["min_scaled"], args["bid"])
    return LIQUIDATOR.encode(
        "liquidate", order, args["swap_fee"], args["min_out"], args["min_profit"], args["bid_cost"]
    )


@pytest.mark.asyncio
async def test_flash_liquidation_pays_the_owner_and_leaves_no_allowance(devnet):
    """The owner liquidates with zero capital: the profit lands with the owner, the position's
    debt fell, and the contract keeps neither tokens nor allowances.
    """
    async with ChainClient(devnet.url) as client:
        dep, liquidator, user, wbtc, usdc, debt = await _setup(client, devnet)
        before = await balance_of(client, usdc, KEEPER_ADDRESS)
        await dep.transact(
            KEEPER_ADDRESS, liquidator, _liquidate((wbtc, usdc, user, debt // 2)), gas=3_000_000
        )
        profit = await balance_of(client, usdc, KEEPER_ADDRESS) - before
        assert profit > 0
        assert await balance_of(client, devnet.world.asset("USDC").variable_debt_token, user) < debt
        for token in (wbtc, usdc):
            assert await balance_of(client, token, liquidator) == 0
            for spender in (devnet.world.market.pool, devnet.world.uniswap.router):
                raw = await client.call(token, ERC20.encode("allowance", liquidator, spender))
                assert ERC20.decode("allowance", raw)[0] == 0


def _selector(signature: str) -> str:
    return "0x" + keccak(text=signature)[:4].hex()


async def _revert_data(client: ChainClient, sender: str, to: str, data: str) -> str:
    with pytest.raises(ContractRevertError) as err:
        await client.call(to, data, "latest", sender=sender)
    return err.value.data or ""


@pytest.mark.asyncio
async def test_the_contract_refuses_what_it_must(devnet):
    """A stranger cannot call liquidate (NotOwner); the callback refuses a caller other than the
    Pool (NotPool) and a flash loan it did not start (BadInitiator); a swap below the minimum
    output reverts in the router; a profit below the minimum reverts (InsufficientProfit).
    """
    async with ChainClient(devnet.url) as client:
        dep, liquidator, user, wbtc, usdc, debt = await _setup(client, devnet)
        args = (wbtc, usdc, user, debt // 2)
        data = await _revert_data(client, STRANGER, liquidator, _liquidate(args))
        assert data.startswith(_selector("NotOwner()"))
        callback = LIQUIDATOR.encode("executeOperation", usdc, 10**6, 0, liquidator, b"")
        data = await _revert_data(client, STRANGER, liquidator, callback)
        assert data.startswith(_selector("NotPool()"))
        spoof = POOL.encode("flashLoanSimple", liquidator, usdc, 10**6, b"", 0)
        data = await _revert_data(client, STRANGER, devnet.world.market.pool, spoof)
        assert data.startswith(_selector("BadInitiator()"))
        data = await _revert_data(
            client, KEEPER_ADDRESS, liquidator, _liquidate(args, min_out=10**30)
        )
        assert bytes.fromhex(data[10:]).rstrip(b"\0").endswith(b"Too little received")
        data = await _revert_data(
            client, KEEPER_ADDRESS, liquidator, _liquidate(args, min_profit=10**30)
        )
        assert data.startswith(_selector("InsufficientProfit(uint256,uint256)"))
        with pytest.raises(DevnetError, match="reverted"):
            await dep.transact(STRANGER, liquidator, _liquidate(args), gas=3_000_000)
        await dep.transact(KEEPER_ADDRESS, liquidator, _liquidate(args), gas=3_000_000)


@pytest.mark.asyncio
async def test_a_flash_liquidation_pays_its_coinbase_bid_only_when_the_profit_covers_it(devnet):
    """With ether in the contract, a flash liquidation carrying a bid pays the block's coinbase
    exactly the bid (no tip); a bid whose worth (``bidCost``) takes the profit below the
    minimum reverts the whole liquidation (InsufficientProfit); a plan whose borrower's scaled
    debt is below the planned one stops early (PlanStale).
    """
    async with ChainClient(devnet.url) as client:
        dep, liquidator, user, wbtc, usdc, debt = await _setup(client, devnet)
        await dep.transact(KEEPER_ADDRESS, liquidator, "0x", value=10**18)
        vtoken = devnet.world.asset("USDC").variable_debt_token
        raw = await client.call(vtoken, SCALED.encode("scaledBalanceOf", user))
        scaled = int(SCALED.decode("scaledBalanceOf", raw)[0])
        args = (wbtc, usdc, user, debt // 2)
        guard = {"debt_token": vtoken, "min_scaled": scaled}
        stale = _liquidate(args, **(guard | {"min_scaled": scaled + 1}))
        data = await _revert_data(client, KEEPER_ADDRESS, liquidator, stale)
        assert data == _selector("PlanStale()")
        dear = _liquidate(args, **guard, bid=10**15, bid_cost=10**30)
        data = await _revert_data(client, KEEPER_ADDRESS, liquidator, dear)
        assert data.startswith(_selector("InsufficientProfit(uint256,uint256)"))
        await client.request("anvil_setCoinbase", [COINBASE])
        before = await client.get_balance(COINBASE)
        tx_hash = await client.request(
            "eth_sendTransaction",
            [
                {
                    "from": KEEPER_ADDRESS,
                    "to": liquidator,
                    "data": _liquidate(args, **guard, bid=10**15, bid_cost=10**6),
                    "gas": hex(3_000_000),
                    "maxPriorityFeePerGas": "0x0",
                }
            ],
        )
        receipt = None
        for _ in range(600):
            receipt = await client.request("eth_getTransactionReceipt", [tx_hash])
            if receipt is not None:
                break
            await asyncio.sleep(0.05)
        assert receipt is not None and int(receipt["status"], 16) == 1
        assert await client.get_balance(COINBASE) - before == 10**15
