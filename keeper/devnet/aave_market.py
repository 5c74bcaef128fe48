"""Deploying a complete Aave V3 market from the @aave/core-v3 artifacts (Aave's own bytecode).

The order is forced by the contracts: the ACL admin before the ACLManager, the libraries before
the Pool (FlashLoanLogic itself links BorrowLogic), the Pool proxy before the configurator,
token implementations bound to the Pool proxy. See ../shared/AAVE_V3_NOTES.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from keeper.devnet.artifacts import npm_artifact, own_artifact
from keeper.devnet.deployer import CALL_GAS, Deployer, codec_of
from keeper.devnet.market_spec import (
    DEFAULT_EMODES,
    FLASHLOAN_PREMIUM_TO_PROTOCOL,
    FLASHLOAN_PREMIUM_TOTAL,
    PRICE_DECIMALS,
    EModeSpec,
    ReserveSpec,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from keeper.chain.abi import Codec
    from keeper.devnet.artifacts import Artifact

_LIBRARIES = (
    "SupplyLogic",
    "BorrowLogic",
    "LiquidationLogic",
    "EModeLogic",
    "BridgeLogic",
    "PoolLogic",
    "ConfiguratorLogic",
)
INIT_RESERVES_GAS = 25_000_000
MARKET_ID = "keeper-devnet"
_ZERO_ADDRESS = "0x" + "00" * 20


@dataclass
class AssetInfo:
    """Addresses of one listed asset and its Aave tokens."""

    symbol: str
    address: str
    decimals: int
    feed: str
    a_token: str = ""
    variable_debt_token: str = ""
    stable_debt_token: str = ""


@dataclass
class MarketAddresses:
    """Every contract of the deployed market."""

    pool_addresses_provider: str
    acl_manager: str
    pool: str
    pool_configurator: str
    oracle: str
    data_provider: str
    treasury: str
    assets: dict[str, AssetInfo] = field(default_factory=dict)
    # Aave's on-chain mirror of the liquidation rules (v3.3+ helpers; "" on the v3.0 market).
    liquidation_data_provider: str = ""


def treasury_address() -> str:
    """A fixed, keyless address that collects the protocol's fees on the devnet."""
    return str(to_checksum_address(keccak(b"keeper devnet treasury")[-20:]))


async def deploy_access_and_libraries(
    dep: Deployer,
    admin: str,
    artifact: Callable[[str], Artifact],
    libraries: Sequence[str],
) -> tuple[str, Codec, str, dict[str, str]]:
    """The provider, the ACL (``admin`` in every role) and the Pool's libraries, in that order.

    The order is the contracts' own (any version): the ACL admin before the ACLManager, and
    FlashLoanLogic last, since it links BorrowLogic. Returns (provider, its codec, ACL, libs).
    """
    provider_art = artifact("PoolAddressesProvider")
    provider_c = codec_of(provider_art)
    provider = await dep.deploy(admin, provider_art, [MARKET_ID, admin])
    await dep.call_fn(admin, provider, provider_c, "setACLAdmin", admin)
    acl_art = artifact("ACLManager")
    acl = await dep.deploy(admin, acl_art, [provider])
    await dep.call_fn(admin, provider, provider_c, "setACLManager", acl)
    acl_c = codec_of(acl_art)
    for role in ("addPoolAdmin", "addRiskAdmin", "addAssetListingAdmin", "addEmergencyAdmin"):
        await dep.call_fn(admin, acl, acl_c, role, admin)
    libs: dict[str, str] = {}
    for lib in libraries:
        libs[lib] = await dep.deploy(admin, artifact(lib))
    libs["FlashLoanLogic"] = await dep.deploy(admin, artifact("FlashLoanLogic"), [], libs)
    return provider, provider_c, acl, libs


async def deploy_tokens_and_feeds(
    dep: Deployer, admin: str, reserves: Sequence[ReserveSpec]
) -> dict[str, AssetInfo]:
    """A mintable token and one of our Chainlink-style feeds per reserve (any Pool version)."""
    token_art = npm_artifact("MintableERC20")
    feed_art = own_artifact("ManualAggregator")
    assets: dict[str, AssetInfo] = {}
    for spec in reserves:
        token = await dep.deploy(admin, token_art, [spec.name, spec.symbol, spec.decimals])
        feed = await dep.deploy(
            admin, feed_art, [PRICE_DECIMALS, f"{spec.symbol} / USD", spec.price]
        )
        assets[spec.symbol] = AssetInfo(spec.symbol, token, spec.decimals, feed)
    return assets


async def deploy_market(
    dep: Deployer,
    admin: str,
    reserves: Sequence[ReserveSpec],
    emodes: Sequence[EModeSpec] = DEFAULT_EMODES,
) -> MarketAddresses:
    """Deploy tokens, feeds and a fully configured Aave V3 market; ``admin`` holds every role."""
    provider, provider_c, acl, libs = await deploy_access_and_libraries(
        dep, admin, npm_artifact, _LIBRARIES
    )

    pool_impl = await dep.deploy(admin, npm_artifact("Pool"), [provider], libs)
    await dep.call_fn(admin, provider, provider_c, "setPoolImpl", pool_impl, gas=5_000_000)
    (pool,) = await dep.read(provider, provider_c, "getPool")

    configurator_impl = await dep.deploy(admin, npm_artifact("PoolConfigurator"), [], libs)
    await dep.call_fn(
        admin, provider, provider_c, "setPoolConfiguratorImpl", configurator_impl, gas=5_000_000
    )
    (configurator,) = await dep.read(provider, provider_c, "getPoolConfigurator")

    data_provider = await dep.deploy(admin, npm_artifact("AaveProtocolDataProvider"), [provider])
    await dep.call_fn(admin, provider, provider_c, "setPoolDataProvider", data_provider)

    # Tokens and our Chainlink-style feeds.
    assets = await deploy_tokens_and_feeds(dep, admin, reserves)

    oracle = await dep.deploy(
        admin,
        npm_artifact("AaveOracle"),
        [
            provider,
            [a.address for a in assets.values()],
            [a.feed for a in assets.values()],
            "0x" + "00" * 20,
            "0x" + "00" * 20,
            10**PRICE_DECIMALS,
        ],
    )
    await dep.call_fn(admin, provider, provider_c, "setPriceOracle", oracle)

    a_impl = await dep.deploy(admin, npm_artifact("AToken"), [pool])
    s_impl = await dep.deploy(admin, npm_artifact("StableDebtToken"), [pool])
    v_impl = await dep.deploy(admin, npm_artifact("VariableDebtToken"), [pool])
    treasury = treasury_address()

    inputs = []
    for spec in reserves:
        strategy = await dep.deploy(
            admin,
            npm_artifact("DefaultReserveInterestRateStrategy"),
            [
                provider,
                spec.optimal_usage,
                spec.base_rate,
                spec.slope1,
                spec.slope2,
                0,
                0,
                0,
                0,
                2 * 10**26,
            ],
        )
        s = spec.symbol
        inputs.append(
            (
                a_impl,
                s_impl,
                v_impl,
                spec.decimals,
                strategy,
                assets[s].address,
                treasury,
                "0x" + "00" * 20,
                f"Aave Devnet {s}",
                f"aDev{s}",
                f"Aave Devnet Variable Debt {s}",
                f"variableDebtDev{s}",
                f"Aave Devnet Stable Debt {s}",
                f"stableDebtDev{s}",
                b"",
            )
        )
    conf_c = codec_of(npm_artifact("PoolConfigurator"))
    await dep.call_fn(admin, configurator, conf_c, "initReserves", inputs, gas=INIT_RESERVES_GAS)

    await _configure(dep, admin, configurator, reserves, emodes, assets)

    dp_c = codec_of(npm_artifact("AaveProtocolDataProvider"))
    for info in assets.values():
        a_tok, s_tok, v_tok = await dep.read(
            data_provider, dp_c, "getReserveTokensAddresses", info.address
        )
        info.a_token, info.stable_debt_token, info.variable_debt_token = a_tok, s_tok, v_tok

    return MarketAddresses(
        provider, acl, pool, configurator, oracle, data_provider, treasury, assets
    )


async def _configure(
    dep: Deployer,
    admin: str,
    configurator: str,
    reserves: Sequence[ReserveSpec],
    emodes: Sequence[EModeSpec],
    assets: dict[str, AssetInfo],
) -> None:
    """Risk parameters, borrowing, flash loans, fees and eMode: what initReserves leaves off."""
    conf_c = codec_of(npm_artifact("PoolConfigurator"))
    for spec in reserves:
        asset = assets[spec.symbol].address
        await dep.call_fn(
            admin,
            configurator,
            conf_c,
            "configureReserveAsCollateral",
            asset,
            spec.ltv,
            spec.liquidation_threshold,
            spec.liquidation_bonus,
        )
        await dep.call_fn(admin, configurator, conf_c, "setReserveBorrowing", asset, True)
        await dep.call_fn(admin, configurator, conf_c, "setReserveFlashLoaning", asset, True)
        await dep.call_fn(
            admin,
            configurator,
            conf_c,
            "setReserveFactor",
            asset,
            spec.reserve_factor,
            gas=CALL_GAS,
        )
        await dep.call_fn(
            admin,
            configurator,
            conf_c,
            "setLiquidationProtocolFee",
            asset,
            spec.liquidation_protocol_fee,
        )
    for emode in emodes:
        await dep.call_fn(
            admin,
            configurator,
            conf_c,
            "setEModeCategory",
            emode.id,
            emode.ltv,
            emode.liquidation_threshold,
            emode.liquidation_bonus,
            _ZERO_ADDRESS,
            emode.label,
        )
        for symbol in emode.members:
            await dep.call_fn(
                admin,
                configurator,
                conf_c,
                "setAssetEModeCategory",
                assets[symbol].address,
                emode.id,
            )
    await dep.call_fn(
        admin, configurator, conf_c, "updateFlashloanPremiumTotal", FLASHLOAN_PREMIUM_TOTAL
    )
    await dep.call_fn(
        admin,
        configurator,
        conf_c,
        "updateFlashloanPremiumToProtocol",
        FLASHLOAN_PREMIUM_TO_PROTOCOL,
    )
