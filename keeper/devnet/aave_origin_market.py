"""Deploying a complete Aave v3.6 market, compiled from Aave's own source (aave-v3-origin 3.6.0).

The contracts come from ``contracts/build_aave_origin.js`` (cached under ``.cache/``, compiled on
first use when missing; see keeper/devnet/artifacts.py). The steps follow the v3.0 deployment in
keeper/devnet/aave_market.py, in the same order where the contracts allow it, so the
PoolAddressesProvider and the Pool proxy get the same addresses as on a v3.0 devnet (only
``POOL_REVISION()`` tells them apart: 10 here, 1 for @aave/core-v3 1.19.3). What v3.6 changes
(read in the 3.6.0 source):

- Six external libraries (SupplyLogic, BorrowLogic, LiquidationLogic, PoolLogic,
  ConfiguratorLogic; FlashLoanLogic links BorrowLogic): the Pool links five of them, the
  configurator ConfiguratorLogic. EModeLogic and BridgeLogic are gone.
- One ``DefaultReserveInterestRateStrategyV2(provider)`` for the whole pool, a constructor
  argument of ``PoolInstance(provider, strategy)``; each reserve's rates are
  ``abi.encode(InterestRateData{uint16 optimalUsageRatio; uint32 baseVariableBorrowRate;
  uint32 variableRateSlope1; uint32 variableRateSlope2})`` in bps, the last field of the 9-field
  ``InitReserveInput``.
- Token implementations take the treasury and the rewards controller in their constructors
  (``ATokenInstance(pool, rewards, treasury)``, ``VariableDebtTokenInstance(pool, rewards)``);
  decimals come from the token; there is no stable debt token (``stable_debt_token`` is the zero
  address, as the data provider reports it).
- Implementations lock themselves: only proxies are initialised (by the provider and the
  configurator).
- ``updateFlashloanPremium(total)`` replaces the two premium setters: the protocol share is fixed
  at 100% (``FLASHLOAN_PREMIUM_TO_PROTOCOL()`` returns 10000), so the devnet's "0 to protocol"
  cannot be set; the total stays 5 bps.
- eMode categories are ``setEModeCategory(id, ltv, lt, bonus, label)`` (no price source) plus
  per-asset bitmaps: ``setAssetCollateralInEMode(asset, id, true)`` (the category's LTV, LT and
  bonus apply to that asset only) and ``setAssetBorrowableInEMode(asset, id, true)`` (only those
  assets can be borrowed in the category).

The eMode categories (keeper/devnet/market_spec.py ORIGIN_EMODES): 1 "ETH-BTC" (LTV 9000, LT
9300, bonus 10300, as DEFAULT_EMODES) with WETH and WBTC as collateral and borrowable; 2
"ETH-USD" (LTV 8500, LT 8800, bonus 10400) with WETH as collateral and only USDC borrowable.
Category 2 exists so that an account in eMode holds a collateral outside its category's bitmap
(WBTC at the reserve's 7300/7800/10500) beside one inside it, the mixed case a liquidator must
price per asset. A ``LiquidationDataProvider`` (Aave's on-chain mirror of the liquidation rules)
is deployed too, as a cross-check.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from eth_abi.abi import encode

from keeper.devnet.aave_market import (
    INIT_RESERVES_GAS,
    AssetInfo,
    MarketAddresses,
    deploy_access_and_libraries,
    deploy_tokens_and_feeds,
    treasury_address,
)
from keeper.devnet.artifacts import ensure_origin_build, origin_artifact
from keeper.devnet.deployer import CALL_GAS, Deployer, codec_of
from keeper.devnet.market_spec import (
    FLASHLOAN_PREMIUM_TOTAL,
    ORIGIN_EMODES,
    PRICE_DECIMALS,
    RAY,
    EModeBitmapSpec,
    ReserveSpec,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

# Deployed in this order; FlashLoanLogic comes last because it links BorrowLogic.
_LIBRARIES = ("SupplyLogic", "BorrowLogic", "LiquidationLogic", "PoolLogic", "ConfiguratorLogic")
_ZERO_ADDRESS = "0x" + "00" * 20
_PROXY_GAS = 5_000_000
_BPS = 10_000


def rate_data_bps(spec: ReserveSpec) -> tuple[int, int, int, int]:
    """The reserve's ``InterestRateData`` (optimal usage, base rate, slope 1, slope 2) in bps.

    The specs' rays are rounded to the nearest bps (their percentages went through floats).
    """
    values = (spec.optimal_usage, spec.base_rate, spec.slope1, spec.slope2)
    a, b, c, d = ((v * _BPS + RAY // 2) // RAY for v in values)
    return a, b, c, d


def rate_data(spec: ReserveSpec) -> bytes:
    """``abi.encode(InterestRateData)`` of the reserve, as the strategy decodes it."""
    return encode(["(uint16,uint32,uint32,uint32)"], [rate_data_bps(spec)])


async def deploy_origin_market(
    dep: Deployer,
    admin: str,
    reserves: Sequence[ReserveSpec],
    emodes: Sequence[EModeBitmapSpec] = ORIGIN_EMODES,
) -> MarketAddresses:
    """Deploy tokens, feeds and a fully configured Aave v3.6 market; ``admin`` holds every role."""
    await asyncio.to_thread(ensure_origin_build)  # may compile (~20 s) on a fresh checkout
    provider, provider_c, acl, libs = await deploy_access_and_libraries(
        dep, admin, origin_artifact, _LIBRARIES
    )

    strategy = await dep.deploy(
        admin, origin_artifact("DefaultReserveInterestRateStrategyV2"), [provider]
    )
    pool_impl = await dep.deploy(admin, origin_artifact("PoolInstance"), [provider, strategy], libs)
    await dep.call_fn(admin, provider, provider_c, "setPoolImpl", pool_impl, gas=_PROXY_GAS)
    (pool,) = await dep.read(provider, provider_c, "getPool")

    conf_art = origin_artifact("PoolConfiguratorInstance")
    configurator_impl = await dep.deploy(admin, conf_art, [], libs)
    await dep.call_fn(
        admin, provider, provider_c, "setPoolConfiguratorImpl", configurator_impl, gas=_PROXY_GAS
    )
    (configurator,) = await dep.read(provider, provider_c, "getPoolConfigurator")

    dp_art = origin_artifact("AaveProtocolDataProvider")
    data_provider = await dep.deploy(admin, dp_art, [provider])
    await dep.call_fn(admin, provider, provider_c, "setPoolDataProvider", data_provider)

    # Tokens and our Chainlink-style feeds: plain ERC20s and feeds, as on the v3.0 devnet.
    assets = await deploy_tokens_and_feeds(dep, admin, reserves)

    oracle = await dep.deploy(
        admin,
        origin_artifact("AaveOracle"),
        [
            provider,
            [a.address for a in assets.values()],
            [a.feed for a in assets.values()],
            _ZERO_ADDRESS,
            _ZERO_ADDRESS,
            10**PRICE_DECIMALS,
        ],
    )
    await dep.call_fn(admin, provider, provider_c, "setPriceOracle", oracle)

    treasury = treasury_address()
    a_impl = await dep.deploy(
        admin, origin_artifact("ATokenInstance"), [pool, _ZERO_ADDRESS, treasury]
    )
    v_impl = await dep.deploy(
        admin, origin_artifact("VariableDebtTokenInstance"), [pool, _ZERO_ADDRESS]
    )
    inputs = [
        (
            a_impl,
            v_impl,
            assets[spec.symbol].address,
            f"Aave Devnet {spec.symbol}",
            f"aDev{spec.symbol}",
            f"Aave Devnet Variable Debt {spec.symbol}",
            f"variableDebtDev{spec.symbol}",
            b"",
            rate_data(spec),
        )
        for spec in reserves
    ]
    conf_c = codec_of(conf_art)
    await dep.call_fn(admin, configurator, conf_c, "initReserves", inputs, gas=INIT_RESERVES_GAS)

    await _configure(dep, admin, configurator, reserves, emodes, assets)

    dp_c = codec_of(dp_art)
    for info in assets.values():
        a_tok, s_tok, v_tok = await dep.read(
            data_provider, dp_c, "getReserveTokensAddresses", info.address
        )
        info.a_token, info.stable_debt_token, info.variable_debt_token = a_tok, s_tok, v_tok

    liquidation_data_provider = await dep.deploy(
        admin, origin_artifact("LiquidationDataProvider"), [pool, provider]
    )
    return MarketAddresses(
        provider,
        acl,
        pool,
        configurator,
        oracle,
        data_provider,
        treasury,
        assets,
        liquidation_data_provider=liquidation_data_provider,
    )


async def _configure(
    dep: Deployer,
    admin: str,
    configurator: str,
    reserves: Sequence[ReserveSpec],
    emodes: Sequence[EModeBitmapSpec],
    assets: dict[str, AssetInfo],
) -> None:
    """Risk parameters, borrowing, flash loans, fees and eMode: what initReserves leaves off."""
    conf_c = codec_of(origin_artifact("PoolConfiguratorInstance"))

    async def call(fn: str, *args: object) -> None:
        await dep.call_fn(admin, configurator, conf_c, fn, *args, gas=CALL_GAS)

    for spec in reserves:
        asset = assets[spec.symbol].address
        await call(
            "configureReserveAsCollateral",
            asset,
            spec.ltv,
            spec.liquidation_threshold,
            spec.liquidation_bonus,
        )
        await call("setReserveBorrowing", asset, True)
        await call("setReserveFlashLoaning", asset, True)
        await call("setReserveFactor", asset, spec.reserve_factor)
        await call("setLiquidationProtocolFee", asset, spec.liquidation_protocol_fee)
    for emode in emodes:
        await call(
            "setEModeCategory",
            emode.id,
            emode.ltv,
            emode.liquidation_threshold,
            emode.liquidation_bonus,
            emode.label,
        )
        for symbol in emode.collateral:
            await call("setAssetCollateralInEMode", assets[symbol].address, emode.id, True)
        for symbol in emode.borrowable:
            await call("setAssetBorrowableInEMode", assets[symbol].address, emode.id, True)
    await call("updateFlashloanPremium", FLASHLOAN_PREMIUM_TOTAL)
