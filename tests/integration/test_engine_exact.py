"""The local engine equals getUserAccountData to the wei, for every account, at every block
checked, through a long random session of market activity, time and price moves.
"""

from __future__ import annotations

import random

import pytest

from keeper.chain.abi import Codec
from keeper.chain.client import ChainClient
from keeper.devnet.artifacts import npm_artifact
from keeper.devnet.borrowers import MarketActions, borrower_address
from keeper.devnet.deployer import Deployer, codec_of
from keeper.devnet.scenarios import FEED
from keeper.errors import DevnetError
from keeper.protocols.aave_v3.config import ReserveConfig
from keeper.protocols.aave_v3.market import resolve_market
from keeper.protocols.aave_v3.monitor import MarketMonitor
from keeper.protocols.aave_v3.reads import read_account_data
from keeper.settings import load_settings
from tests.integration.helpers import account_data, balance_of

pytestmark = pytest.mark.integration
POOL = Codec.named("aave_v3/IPool")
ATOKEN = Codec.named("aave_v3/IAToken")
ROUNDS = 30
OPS_PER_ROUND = 6


class Market:
    """Random actions on the devnet market, each allowed to revert (as real users' do)."""

    def __init__(self, client: ChainClient, devnet, rng: random.Random) -> None:
        self.client = client
        self.world = devnet.world
        self.dep = Deployer(client)
        self.actions = MarketActions(self.dep, devnet.world.market)
        self.token = codec_of(npm_artifact("MintableERC20"))
        self.rng = rng
        self.accounts = list(devnet.world.borrowers)
        self.symbols = list(devnet.world.market.assets)
        self.new_accounts = 0
        self.v36 = devnet.world.aave_version == "3.6"
        self.configurator = devnet.world.market.pool_configurator
        self.conf = Codec.named(
            "aave_v3_6/IPoolConfigurator" if self.v36 else "aave_v3/IPoolConfigurator"
        )

    def asset(self, symbol: str) -> str:
        return str(self.world.market.assets[symbol].address)

    async def price(self, symbol: str) -> int:
        feed = self.world.market.assets[symbol].feed
        return int(
            FEED.decode("latestAnswer", await self.client.call(feed, FEED.encode("latestAnswer")))[
                0
            ]
        )

    async def units(self, symbol: str, usd: int) -> int:
        decimals: int = self.world.market.assets[symbol].decimals
        return int(usd * 10**8 * 10**decimals // await self.price(symbol))

    async def pool(self, who: str, fn: str, *args) -> None:
        await self.dep.call_fn(who, self.world.market.pool, POOL, fn, *args)

    async def random_op(self) -> str:
        rng = self.rng
        op = rng.choice(
            [
                "new",
                "supply",
                "borrow",
                "borrow",
                "repay",
                "withdraw",
                "toggle",
                "emode",
                "transfer",
                "time",
                "price",
                "risk",
                *(["emode_config"] if self.v36 else []),
            ]
        )
        who = rng.choice(self.accounts)
        sym = rng.choice(self.symbols)
        try:
            if op == "new":
                who = borrower_address(999, self.new_accounts)
                self.new_accounts += 1
                await self.dep.set_balance(who, 10**18)
                await self.actions.supply(who, sym, await self.units(sym, rng.randint(500, 50_000)))
                self.accounts.append(who)
            elif op == "supply":
                await self.actions.supply(who, sym, await self.units(sym, rng.randint(50, 5_000)))
            elif op == "borrow":
                data = await account_data(self.client, self.world.market.pool, who)
                usd = data.available_borrows_base * rng.randint(10, 90) // 100 // 10**8
                if usd > 0:
                    await self.actions.borrow(who, sym, await self.units(sym, usd))
            elif op == "repay":
                debt = await balance_of(
                    self.client, self.world.market.assets[sym].variable_debt_token, who
                )
                if debt:
                    amount = debt * rng.randint(10, 100) // 100
                    await self.dep.call_fn(
                        who, self.asset(sym), self.token, "mint(address,uint256)", who, amount
                    )
                    await self.dep.call_fn(
                        who, self.asset(sym), self.token, "approve", self.world.market.pool, amount
                    )
                    await self.pool(who, "repay", self.asset(sym), amount, 2, who)
            elif op == "withdraw":
                bal = await balance_of(self.client, self.world.market.assets[sym].a_token, who)
                if bal:
                    await self.pool(
                        who, "withdraw", self.asset(sym), bal * rng.randint(1, 30) // 100, who
                    )
            elif op == "toggle":
                await self.pool(
                    who, "setUserUseReserveAsCollateral", self.asset(sym), rng.random() < 0.5
                )
            elif op == "emode":
                await self.pool(who, "setUserEMode", rng.choice([0, 1, 2] if self.v36 else [0, 1]))
            elif op == "risk":
                await self.risk_change(sym)
            elif op == "emode_config":
                # 3.6: an asset joins or leaves a category's collateral, or its LTV is zeroed.
                fn = rng.choice(["setAssetCollateralInEMode", "setAssetLtvzeroInEMode"])
                await self.configure(fn, self.asset(sym), rng.choice([1, 2]), rng.random() < 0.5)
            elif op == "transfer":
                bal = await balance_of(self.client, self.world.market.assets[sym].a_token, who)
                to = rng.choice([*self.accounts, borrower_address(777, rng.randint(0, 5))])
                if bal and to != who:
                    await self.dep.call_fn(
                        who,
                        self.world.market.assets[sym].a_token,
                        ATOKEN,
                        "transfer",
                        to,
                        bal * rng.randint(1, 20) // 100,
                    )
            elif op == "time":
                await self.client.request("evm_increaseTime", [rng.randint(60, 45 * 86400)])
                await self.client.request("evm_mine", [])
            elif op == "price":
                feed = self.world.market.assets[sym].feed
                new = await self.price(sym) * rng.randint(85, 115) // 100
                await self.dep.transact(self.world.admin, feed, FEED.encode("setAnswer", new))
        except DevnetError:
            return f"{op} (reverted)"
        return op

    async def configure(self, fn: str, *args) -> None:
        await self.dep.call_fn(self.world.admin, self.configurator, self.conf, fn, *args)

    async def risk_change(self, sym: str) -> None:
        """Governance moves a reserve's LTV and LT a little (never to 0: suppliers hold it)."""
        raw = await self.client.call(
            self.world.market.pool, POOL.encode("getConfiguration", self.asset(sym))
        )
        config = ReserveConfig.decode(int(POOL.decode("getConfiguration", raw)[0][0]))
        if config.liquidation_threshold == 0:
            return
        bonus = config.liquidation_bonus
        lt = min(
            config.liquidation_threshold + self.rng.randint(-300, 100), 10_000 * 10_000 // bonus - 1
        )
        ltv = max(0, min(lt, config.ltv + self.rng.randint(-300, 100)))
        await self.configure("configureReserveAsCollateral", self.asset(sym), ltv, lt, bonus)


@pytest.mark.asyncio
async def test_engine_equals_pool_through_random_activity(devnet_any):
    """On v3.0 and on v3.6 bytecode, over 30 rounds of random activity by 200+ accounts (new
    accounts, supply, borrow, repay, withdraw, collateral toggles, eMode switches, aToken
    transfers to new holders, time warps up to 45 days, price moves, LTV/LT changes and, on
    v3.6, eMode collateral and ltvzero changes), every account's local account data equals
    getUserAccountData at each round's block, all six fields, to the wei.
    """
    devnet = devnet_any
    rng = random.Random(20261122)
    async with ChainClient(devnet.url) as client:
        await Deployer(client).impersonate_all()
        market = await resolve_market(client, devnet.world.market.pool_addresses_provider)
        settings = load_settings(
            rpc_url=devnet.url,
            pool_addresses_provider=market.addresses_provider,
            reconcile_sample=0,
        )
        monitor = MarketMonitor(client, market, settings)
        await monitor.start()
        actions = Market(client, devnet, rng)
        checked_blocks = 0
        ops: dict[str, int] = {}
        for _ in range(ROUNDS):
            for _ in range(OPS_PER_ROUND):
                op = await actions.random_op()
                ops[op] = ops.get(op, 0) + 1
            step = await monitor.step()
            assert step is not None
            accounts = sorted(monitor.engine.data)
            onchain, failed = await read_account_data(client, market, accounts, step.block, 500)
            assert not failed
            wrong = [a for a in accounts if monitor.engine.data[a] != onchain[a]]
            assert wrong == [], (
                f"block {step.block}: {len(wrong)} accounts differ, e.g. "
                f"{monitor.engine.data[wrong[0]]} != {onchain[wrong[0]]}"
            )
            checked_blocks += 1
        assert checked_blocks == ROUNDS
        assert len(monitor.engine.data) >= 200
        assert actions.new_accounts > 0
        with_emode = [s for s in monitor.engine.accounts.values() if s.emode != 0]
        assert with_emode, f"no account ended in eMode; ops: {ops}"
        kinds = ["borrow", "repay", "withdraw", "toggle", "transfer", "time", "price", "risk"]
        for kind in kinds + (["emode_config"] if actions.v36 else []):
            assert ops.get(kind, 0) > 0, f"{kind} never succeeded; ops: {ops}"
