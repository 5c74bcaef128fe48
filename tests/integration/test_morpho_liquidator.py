"""Our MorphoLiquidator on Morpho Blue 1.0.0 (own bytecode): zero capital, safe by construction."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from eth_utils.crypto import keccak

from keeper.chain.abi import Codec
from keeper.chain.client import ChainClient
from keeper.chain.types import Log
from keeper.checks import check_config
from keeper.devnet.artifacts import morpho_artifact, own_artifact
from keeper.devnet.deployer import Deployer, codec_of
from keeper.errors import ConfigError, ContractRevertError
from keeper.localnode.anvil import DEV_ACCOUNTS, DEV_KEYS
from keeper.protocols.morpho_blue import events as ev
from keeper.protocols.morpho_blue.interest import accrue
from keeper.protocols.morpho_blue.liquidation import liquidate
from keeper.protocols.morpho_blue.planner import arguments
from keeper.protocols.morpho_blue.tracker import MorphoTracker
from keeper.settings import load_settings
from tests.integration.morpho_chain import ERC20, send

if TYPE_CHECKING:
    from keeper.devnet.morpho_market import DevMarket
    from keeper.protocols.morpho_blue.types import Position
    from keeper.settings import Settings
    from tests.integration.conftest import MorphoDevnet

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]
LIQUIDATOR = Codec.named("MorphoLiquidator")
ORACLE = codec_of(morpho_artifact("OracleMock"))
ADMIN, OWNER, STRANGER = DEV_ACCOUNTS[0], DEV_ACCOUNTS[1], DEV_ACCOUNTS[2]
GAS = 3_000_000


class Setup:
    """A deployed MorphoLiquidator and one liquidatable position after a price drop."""

    def __init__(self, client: ChainClient, devnet: MorphoDevnet) -> None:
        self.client, self.devnet = client, devnet
        self.dep = Deployer(client)
        self.contract = ""
        self.market: DevMarket = devnet.world.deployment.market("WETH/USDC")
        self.borrower = ""
        self.position: Position | None = None
        self.tracker = MorphoTracker(client, devnet.world.morpho)

    async def build(self, pct: int = -12) -> None:
        """Deploy from the owner, drop the market's price, pick the largest unhealthy debt."""
        uni = self.devnet.world.uniswap
        assert uni is not None
        await self.dep.impersonate_all()
        self.contract = await self.dep.deploy(
            OWNER, own_artifact("MorphoLiquidator"), [self.devnet.world.morpho, uni.router]
        )
        oracle = self.market.params.oracle
        (price,) = ORACLE.decode("price", await self.client.call(oracle, ORACLE.encode("price")))
        await send(
            self.client, ADMIN, oracle, ORACLE.encode("setPrice", price * (100 + pct) // 100)
        )
        await self.tracker.start()
        unhealthy = [
            (p.borrow_shares, a)
            for m, a, p in self.tracker.borrowers()
            if m == self.market.id and (self.tracker.health(m, a) or 10**18) < 10**18
        ]
        assert unhealthy, "no unhealthy WETH/USDC position after the drop"
        self.borrower = max(unhealthy)[1]
        self.position = self.tracker.state.markets[self.market.id].position(self.borrower)

    def call(self, **overrides: int) -> str:
        """``liquidate`` for the chosen position, the largest the collateral covers; no coinbase
        bid unless told (``bid`` wei, worth ``bid_cost`` loan units).
        """
        view = self.tracker.view(self.market.id)
        assert view is not None and self.position is not None
        seized, shares = arguments(self.position, view)
        args = {"fee": 3000, "min_out": 0, "min_profit": 0, "bid": 0, "bid_cost": 0, **overrides}
        return LIQUIDATOR.encode(
            "liquidate",
            self.market.params.as_tuple(),
            self.borrower,
            seized,
            shares,
            args["fee"],
            args["min_out"],
            args["min_profit"],
            args["bid"],
            args["bid_cost"],
        )

    async def balance(self, token: str, who: str) -> int:
        """An ERC-20 balance at the latest block."""
        return int(
            ERC20.decode(
                "balanceOf", await self.client.call(token, ERC20.encode("balanceOf", who))
            )[0]
        )

    async def allowance(self, token: str, owner: str, spender: str) -> int:
        """An ERC-20 allowance at the latest block."""
        raw = await self.client.call(token, ERC20.encode("allowance", owner, spender))
        return int(ERC20.decode("allowance", raw)[0])


def _selector(signature: str) -> str:
    return "0x" + keccak(text=signature)[:4].hex()


async def _revert_data(client: ChainClient, sender: str, to: str, data: str) -> str:
    with pytest.raises(ContractRevertError) as err:
        await client.call(to, data, "latest", sender=sender)
    return err.value.data or ""


async def test_flash_liquidation_pays_the_owner_and_leaves_nothing_behind(
    morpho_devnet: MorphoDevnet,
) -> None:
    """The owner, holding no USDC, liquidates through the contract: Morpho's Liquidate amounts
    equal the pure math, the contract's Liquidated profit lands with the owner, and the contract
    keeps neither tokens nor allowances (to Morpho or to the router).
    """
    async with ChainClient(morpho_devnet.url) as client:
        s = Setup(client, morpho_devnet)
        await s.build()
        loan, coll = s.market.params.loan_token, s.market.params.collateral_token
        assert await s.balance(loan, OWNER) == 0
        view = s.tracker.view(s.market.id)
        assert view is not None and s.position is not None
        seized_arg, shares_arg = arguments(s.position, view)
        receipt = await s.dep.transact(OWNER, s.contract, s.call(), gas=GAS)
        logs = [Log.from_rpc(r) for r in receipt["logs"]]
        (event,) = [e for e in map(ev.decode, logs) if isinstance(e, ev.Liquidate)]
        assert event.caller == s.contract
        assert event.borrower == s.borrower
        block = await client.get_block(int(receipt["blockNumber"], 16))
        timestamp = int(block["timestamp"], 16)
        stored = s.tracker.state.markets[s.market.id].totals  # as Morpho accrues from them
        totals = accrue(stored, view.rate, timestamp).totals
        expected = liquidate(
            s.position,
            totals,
            view.price,
            view.params.lltv,
            seized_assets=seized_arg,
            repaid_shares=shares_arg,
        )
        assert (event.seized_assets, event.repaid_assets) == (
            expected.seized_assets,
            expected.repaid_assets,
        )
        (profit_log,) = [
            LIQUIDATOR.decode_log(r.as_rpc())
            for r in logs
            if r.address.lower() == s.contract.lower()
        ]
        assert profit_log is not None and profit_log[0] == "Liquidated"
        profit = int(profit_log[1]["profit"])
        assert profit > 0
        assert await s.balance(loan, OWNER) == profit
        uni = morpho_devnet.world.uniswap
        assert uni is not None
        for token in (loan, coll):
            assert await s.balance(token, s.contract) == 0
            for spender in (morpho_devnet.world.morpho, uni.router):
                assert await s.allowance(token, s.contract, spender) == 0


async def test_the_contract_refuses_what_it_must(morpho_devnet: MorphoDevnet) -> None:
    """A stranger cannot call liquidate (NotOwner); the callback refuses any caller but Morpho
    (NotMorpho); a swap below the minimum output reverts in the router; a profit below the
    minimum reverts (InsufficientProfit); then the owner's plain call goes through.
    """
    async with ChainClient(morpho_devnet.url) as client:
        s = Setup(client, morpho_devnet)
        await s.build()
        data = await _revert_data(client, STRANGER, s.contract, s.call())
        assert data.startswith(_selector("NotOwner()"))
        callback = LIQUIDATOR.encode("onMorphoLiquidate", 10**6, b"")
        data = await _revert_data(client, STRANGER, s.contract, callback)
        assert data.startswith(_selector("NotMorpho()"))
        data = await _revert_data(client, OWNER, s.contract, s.call(min_out=10**30))
        assert bytes.fromhex(data[10:]).rstrip(b"\0").endswith(b"Too little received")
        data = await _revert_data(client, OWNER, s.contract, s.call(min_profit=10**30))
        assert data.startswith(_selector("InsufficientProfit(uint256,uint256)"))
        await s.dep.transact(OWNER, s.contract, s.call(), gas=GAS)


async def test_check_config_accepts_only_a_morpho_liquidator_of_this_morpho_owned_by_the_key(
    morpho_devnet: MorphoDevnet,
) -> None:
    """`check-config` in flash mode on Morpho passes for our MorphoLiquidator owned by the
    keeper's key, and refuses (ConfigError naming flash_liquidator) a contract owned by another
    key, a contract that is not ours (the router), and a liquidator of another Morpho.
    """
    uni = morpho_devnet.world.uniswap
    assert uni is not None
    async with ChainClient(morpho_devnet.url) as client:
        dep = Deployer(client)
        await dep.impersonate_all()
        mine = await dep.deploy(
            OWNER, own_artifact("MorphoLiquidator"), [morpho_devnet.world.morpho, uni.router]
        )
        theirs = await dep.deploy(
            STRANGER, own_artifact("MorphoLiquidator"), [morpho_devnet.world.morpho, uni.router]
        )
        elsewhere = await dep.deploy(
            OWNER, own_artifact("MorphoLiquidator"), [uni.router, uni.router]
        )

    def settings(contract: str) -> Settings:
        return load_settings(
            rpc_url=morpho_devnet.url,
            protocol="morpho_blue",
            morpho=morpho_devnet.world.morpho,
            private_key=DEV_KEYS[1],
            execution_mode="flash",
            flash_liquidator=contract,
            uniswap_quoter=uni.quoter,
        )

    report = await check_config(settings(mine))
    assert report["ok"] and report["keeper_address"] == OWNER
    for contract, words in (
        (theirs, "owned by"),
        (uni.router, "has no owner()"),
        (elsewhere, "is not a MorphoLiquidator of"),
    ):
        with pytest.raises(ConfigError, match=rf"flash_liquidator: .*{re.escape(words)}"):
            await check_config(settings(contract))
