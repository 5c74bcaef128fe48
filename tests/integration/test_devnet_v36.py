"""The v3.6 devnet: a real Aave v3.6 market compiled from aave-v3-origin 3.6.0, its special
accounts (eMode, mixed eMode collateral, LT-0 collateral, small positions) and the liquidation
grace period, checked against the Pool itself.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from eth_utils.crypto import keccak

from keeper.chain.client import ChainClient
from keeper.cli import DEVNET_PROVIDER
from keeper.devnet.aave_origin_market import rate_data_bps
from keeper.devnet.artifacts import npm_artifact, origin_artifact
from keeper.devnet.borrowers import SPECIAL_ACCOUNTS, plan_positions, special_address
from keeper.devnet.deployer import Deployer, codec_of
from keeper.devnet.governance import set_liquidation_grace_period
from keeper.devnet.market_spec import DEFAULT_RESERVES, ORIGIN_EMODES, ORIGIN_RESERVES
from keeper.devnet.scenarios import shock_price
from keeper.devnet.world import World
from keeper.errors import ContractRevertError, DevnetError
from tests.integration.conftest import BORROWERS, KEEPER_ADDRESS, SEED
from tests.integration.helpers import MAX_UINT, account_data, liquidation_events

pytestmark = pytest.mark.integration
WAD = 10**18
BPS = 10_000
POOL = codec_of(origin_artifact("PoolInstance"))
ERC20 = codec_of(npm_artifact("MintableERC20"))
ORACLE = codec_of(origin_artifact("AaveOracle"))
DATA = codec_of(origin_artifact("AaveProtocolDataProvider"))
RATES = codec_of(origin_artifact("DefaultReserveInterestRateStrategyV2"))
LDP = codec_of(origin_artifact("LiquidationDataProvider"))
GRACE_ERROR = "0x" + keccak(b"LiquidationGraceSentinelCheckFailed()")[:4].hex()


async def _read(client: ChainClient, to: str, fn: str, *args: Any, codec: Any = POOL) -> Any:
    values = codec.decode(fn, await client.call(to, codec.encode(fn, *args)))
    return values[0] if len(values) == 1 else values


def _bitmap(world: World, reserves_list: list[str], symbols: tuple[str, ...]) -> int:
    ids = {a: i for i, a in enumerate(reserves_list)}
    return sum(1 << ids[world.asset(s).address] for s in symbols)


async def _liquidate(
    client: ChainClient, world: World, collateral: str, debt: str, user: str, *, call: bool
) -> Any:
    """``liquidationCall`` from the funded keeper account: an eth_call, or a sent transaction."""
    pool = world.market.pool
    data = POOL.encode(
        "liquidationCall",
        world.asset(collateral).address,
        world.asset(debt).address,
        user,
        MAX_UINT,
        False,
    )
    if call:
        return await client.call(pool, data, sender=KEEPER_ADDRESS)
    dep = Deployer(client)
    await dep.call_fn(KEEPER_ADDRESS, world.asset(debt).address, ERC20, "approve", pool, MAX_UINT)
    return await dep.transact(KEEPER_ADDRESS, pool, data, gas=3_000_000)


@pytest.mark.asyncio
async def test_v36_world_deploys_with_revision_10_and_four_reserves(devnet_v36):
    """The v3.6 world answers POOL_REVISION() = 10 at the usual devnet provider address, lists
    WETH, USDC, WBTC and LINK with no stable debt token and the specs' risk parameters, fees and
    rates, and holds the planned positions (the same as the v3.0 world's for the seed) followed
    by the special accounts.
    """
    world = devnet_v36.world
    dp = world.market.data_provider
    assert world.aave_version == "3.6"
    assert world.market.pool_addresses_provider == DEVNET_PROVIDER
    async with ChainClient(devnet_v36.url) as client:
        assert await _read(client, world.market.pool, "POOL_REVISION") == 10
        reserves = await _read(client, world.market.pool, "getReservesList")
        assert reserves == [world.asset(s.symbol).address for s in ORIGIN_RESERVES]
        assert (
            await client.request("eth_getCode", [world.market.liquidation_data_provider, "latest"])
            != "0x"
        )
        assert await _read(client, world.market.pool, "FLASHLOAN_PREMIUM_TOTAL") == 5
        strategy = await _read(client, world.market.pool, "RESERVE_INTEREST_RATE_STRATEGY")
        for spec in DEFAULT_RESERVES:  # LINK's collateral parameters are zeroed afterwards
            asset = world.asset(spec.symbol).address
            conf = await _read(client, dp, "getReserveConfigurationData", asset, codec=DATA)
            assert conf[:5] == (
                spec.decimals,
                spec.ltv,
                spec.liquidation_threshold,
                spec.liquidation_bonus,
                spec.reserve_factor,
            )
            fee = await _read(client, dp, "getLiquidationProtocolFee", asset, codec=DATA)
            assert fee == spec.liquidation_protocol_fee
            rates = await _read(client, strategy, "getInterestRateDataBps", asset, codec=RATES)
            assert rates == rate_data_bps(spec)
    assert all(a.stable_debt_token == "0x" + "00" * 20 for a in world.market.assets.values())
    planned = plan_positions(BORROWERS, SEED, DEFAULT_RESERVES)
    specials = [special_address(name) for name, *_ in SPECIAL_ACCOUNTS]
    assert list(world.profiles) == [p.address for p in planned] + specials
    assert [world.profiles[a] for a in specials] == [name for name, *_ in SPECIAL_ACCOUNTS]
    assert set(specials) <= set(world.borrowers)


@pytest.mark.asyncio
async def test_v30_world_has_revision_1_and_the_same_pool_address(devnet_v30, snapshot_v36):
    """@aave/core-v3 1.19.3's Pool answers POOL_REVISION() = 1; with the same deployer nonces up
    to the provider, the v3.0 and v3.6 worlds share the provider and Pool proxy addresses, so
    only the revision tells them apart. A world.json without the version field means 3.0.
    """
    devnet = devnet_v30
    async with ChainClient(devnet.url) as client:
        assert await _read(client, devnet.world.market.pool, "POOL_REVISION") == 1
    assert devnet.world.aave_version == "3.0"
    assert devnet.world.market.pool == snapshot_v36.world.market.pool
    old = json.loads(snapshot_v36.world.to_json())
    del old["aave_version"]
    assert World.from_json(json.dumps(old)).aave_version == "3.0"


@pytest.mark.asyncio
async def test_user_account_data_works_for_every_borrower(devnet_v36):
    """The Pool's getUserAccountData answers for every borrower: collateral, debt and HF above
    1, with some positions under 2,000 USD near their threshold, and each special account in its
    eMode.
    """
    world = devnet_v36.world
    async with ChainClient(devnet_v36.url) as client:
        rows = [await account_data(client, world.market.pool, b) for b in world.borrowers]
        modes = {
            name: await _read(client, world.market.pool, "getUserEMode", special_address(name))
            for name, *_ in SPECIAL_ACCOUNTS
        }
    assert len(rows) == len(world.borrowers) > BORROWERS // 2
    for row in rows:
        assert row.total_collateral_base > 0 and row.total_debt_base > 0
        assert row.health_factor > WAD
    small_near = [
        r
        for r in rows
        if r.total_collateral_base < 2_000 * 10**8 and r.health_factor < 11 * WAD // 10
    ]
    assert len(small_near) >= 3
    assert modes == {name: emode for name, emode, *_ in SPECIAL_ACCOUNTS}


@pytest.mark.asyncio
async def test_emode_categories_read_back_as_configured(devnet_v36):
    """Each eMode category's collateral and borrowable bitmaps have exactly the configured
    reserves' bits (bit i = reserve id i), and its LTV, LT, bonus and label read back.
    """
    world = devnet_v36.world
    pool = world.market.pool
    async with ChainClient(devnet_v36.url) as client:
        reserves = await _read(client, pool, "getReservesList")
        for emode in ORIGIN_EMODES:
            collateral = await _read(client, pool, "getEModeCategoryCollateralBitmap", emode.id)
            borrowable = await _read(client, pool, "getEModeCategoryBorrowableBitmap", emode.id)
            assert collateral == _bitmap(world, reserves, emode.collateral)
            assert borrowable == _bitmap(world, reserves, emode.borrowable)
            assert await _read(client, pool, "getEModeCategoryCollateralConfig", emode.id) == (
                emode.ltv,
                emode.liquidation_threshold,
                emode.liquidation_bonus,
            )
            assert await _read(client, pool, "getEModeCategoryLabel", emode.id) == emode.label
            assert await _read(client, pool, "getEModeCategoryLtvzeroBitmap", emode.id) == 0
        assert await _read(client, pool, "getEModeCategoryCollateralBitmap", 3) == 0


async def _collateral_by_asset(client: ChainClient, world: World, user: str) -> dict[str, int]:
    """The user's aToken balances in base currency (floor), by symbol."""
    out = {}
    for sym, info in world.market.assets.items():
        balance = await _read(client, info.a_token, "balanceOf", user, codec=ERC20)
        if balance:
            price = await _read(
                client, world.market.oracle, "getAssetPrice", info.address, codec=ORACLE
            )
            out[sym] = balance * price // 10**info.decimals
    return out


@pytest.mark.asyncio
async def test_lt0_collateral_counts_in_total_collateral_and_mixed_emode_uses_reserve_lt(
    devnet_v36,
):
    """LINK has LTV and LT 0 (bonus kept), yet the LT-0 account's total collateral includes its LINK
    (v3.6) while its average LT and LTV come from WETH alone; the mixed eMode 2 account's average
    LT weights WETH at the category's 8800 and WBTC (outside the bitmap) at the reserve's 7800.
    """
    world = devnet_v36.world
    pool = world.market.pool
    async with ChainClient(devnet_v36.url) as client:
        (config,) = await _read(client, pool, "getConfiguration", world.asset("LINK").address)
        assert config & (2**32 - 1) == 0  # LTV and LT: 16 bits each
        assert (config >> 32) & (2**16 - 1) == 10750  # the bonus
        lt0 = special_address("lt0")
        by_asset = await _collateral_by_asset(client, world, lt0)
        data = await account_data(client, pool, lt0)
        assert set(by_asset) == {"WETH", "LINK"} and by_asset["LINK"] > 3_900 * 10**8
        assert abs(data.total_collateral_base - sum(by_asset.values())) <= 2
        weth_share = by_asset["WETH"] / data.total_collateral_base
        assert abs(data.current_liquidation_threshold - 8300 * weth_share) <= 1
        assert abs(data.ltv - 8050 * weth_share) <= 1
        assert WAD < data.health_factor < 11 * WAD // 10

        mixed = special_address("emode2-mixed")
        by_asset = await _collateral_by_asset(client, world, mixed)
        data = await account_data(client, pool, mixed)
        expected = (by_asset["WETH"] * 8800 + by_asset["WBTC"] * 7800) // sum(by_asset.values())
        assert set(by_asset) == {"WETH", "WBTC"}
        assert abs(data.current_liquidation_threshold - expected) <= 1


@pytest.mark.asyncio
async def test_grace_period_blocks_liquidation_until_it_passes(devnet_v36):
    """After a 30% WETH drop the eMode 2 account is liquidatable, but a grace period on USDC (its
    debt) makes liquidationCall revert with LiquidationGraceSentinelCheckFailed() until the
    period has passed; then the same call liquidates.
    """
    world = devnet_v36.world
    user = special_address("emode2-edge")
    async with ChainClient(devnet_v36.url) as client:
        await shock_price(client, world.market.pool_addresses_provider, "WETH", -30)
        assert (await account_data(client, world.market.pool, user)).health_factor < WAD
        until = await set_liquidation_grace_period(client, world.market, "USDC", 600)
        head = await client.request("eth_getBlockByNumber", ["latest", False])
        assert until == int(head["timestamp"], 16) + 600
        with pytest.raises(ContractRevertError) as revert:
            await _liquidate(client, world, "WETH", "USDC", user, call=True)
        assert (revert.value.data or "").startswith(GRACE_ERROR)
        with pytest.raises(DevnetError):
            await _liquidate(client, world, "WETH", "USDC", user, call=False)

        await client.request("evm_increaseTime", [601])
        await client.request("evm_mine", [])
        start = await client.block_number()
        await _liquidate(client, world, "WETH", "USDC", user, call=False)
        events = await liquidation_events(client, world.market.pool, start)
    assert [e["user"] for e in events] == [user]


@pytest.mark.asyncio
async def test_liquidation_of_shocked_special_accounts(devnet_v36):
    """After a 30% WETH drop: the LT-0 account's LINK (LT 0, bonus 7.5%) is seized entirely, its
    WETH left; the mixed eMode 2 account loses WETH at the category's 4% bonus; the small account
    loses all its collateral and its remaining debt is written off as a deficit. Aave's
    LiquidationDataProvider predicts each repaid and seized amount.
    """
    world = devnet_v36.world
    pool = world.market.pool
    async with ChainClient(devnet_v36.url) as client:
        await shock_price(client, world.market.pool_addresses_provider, "WETH", -30)
        lt0, mixed, small = (special_address(n) for n in ("lt0", "emode2-mixed", "small-edge"))
        for user in (lt0, mixed, small):
            assert (await account_data(client, pool, user)).health_factor < WAD

        start = await client.block_number()
        before = await _collateral_by_asset(client, world, mixed)
        predicted = []
        for user, collateral in ((lt0, "LINK"), (mixed, "WETH"), (small, "WETH")):
            info = await _read(
                client,
                world.market.liquidation_data_provider,
                "getLiquidationInfo(address,address,address)",
                user,
                world.asset(collateral).address,
                world.asset("USDC").address,
                codec=LDP,
            )
            predicted.append((info[3], info[4]))  # maxCollateralToLiquidate, maxDebtToLiquidate
            await _liquidate(client, world, collateral, "USDC", user, call=False)
        events = await liquidation_events(client, pool, start)
        after = await _collateral_by_asset(client, world, mixed)
        lt0_after = await _collateral_by_asset(client, world, lt0)
        deficit = await _read(client, pool, "getReserveDeficit", world.asset("USDC").address)
        small_after = await account_data(client, pool, small)
    assert [(e["user"], e["collateralAsset"]) for e in events] == [
        (lt0, world.asset("LINK").address),
        (mixed, world.asset("WETH").address),
        (small, world.asset("WETH").address),
    ]
    assert set(lt0_after) == {"WETH"}
    # Aave's LiquidationDataProvider predicted each liquidation (interest of one block aside).
    for (collateral, debt), event in zip(predicted, events, strict=True):
        assert abs(event["debtToCover"] - debt) <= debt // 10**5 + 1
        assert abs(event["liquidatedCollateralAmount"] - collateral) <= collateral // 10**5 + 1
    by_user = {e["user"]: e for e in events}
    # The mixed account loses WETH worth the repaid USDC plus the 4% eMode bonus (the protocol's
    # 10% share of the bonus goes to the treasury, the rest to the liquidator).
    seized = before["WETH"] - after.get("WETH", 0)
    repaid = by_user[mixed]["debtToCover"] * 10**8 // 10**6
    assert abs(seized - repaid * (BPS + 400) // BPS) <= repaid // 1000
    assert small_after.total_collateral_base == 0 and small_after.total_debt_base == 0
    assert deficit > 0
