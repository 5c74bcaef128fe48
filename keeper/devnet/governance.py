"""Risk-admin and governance actions on the v3.6 devnet market (aave_origin_market.py).

- :func:`set_liquidation_grace_period`: the real path, ``PoolConfigurator.setReservePause(asset,
  false, gracePeriod)`` from the emergency/pool admin. The Pool then refuses every
  ``liquidationCall`` whose collateral *or* debt reserve is in its grace period, with the custom
  error ``LiquidationGraceSentinelCheckFailed()`` (selector ``0x9e3e6060``), until
  ``block.timestamp`` passes ``getLiquidationGracePeriod(asset)`` (at most 4 hours,
  ``MAX_GRACE_PERIOD``; ``disableLiquidationGracePeriod(asset)`` ends it early).
- :func:`force_collateral_params`: a reserve's LTV, liquidation threshold and bonus written
  straight into the Pool, as its PoolConfigurator (impersonated on Anvil) would. The configurator
  itself refuses a liquidation threshold of 0 while the reserve has suppliers
  (``configureReserveAsCollateral`` -> ``_checkNoSuppliers``, ``ReserveLiquidityNotZero``), and
  every other user path is closed too (an account cannot enable, or keep through an eMode
  switch, collateral whose LTV is 0 for it), so an account holding enabled collateral with LT 0
  is governance-made state; v3.6 still counts that collateral in the account's total collateral
  and lets it be liquidated. The bonus is what decides whether that liquidation is possible:
  with bonus 0 (the configurator's own LT-0 shape, ``require(liquidationBonus == 0)``) the Pool
  computes 0 collateral to seize and, with a non-zero protocol fee, reverts without data
  (``percentDiv(x, 0)``); so the world keeps LINK's bonus (10750) and zeroes LTV and LT only,
  which lets the LT-0 collateral be seized like any other. The write emits no event (the
  configurator's ``CollateralConfigurationChanged`` is not sent), so do it before a keeper
  starts, or expect a keeper that tracks configurations from events only to miss it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from keeper.devnet.artifacts import origin_artifact
from keeper.devnet.deployer import Deployer, codec_of
from keeper.localnode.anvil import DEV_ACCOUNTS

if TYPE_CHECKING:
    from keeper.chain.client import ChainClient
    from keeper.devnet.aave_market import MarketAddresses

_MASK16 = (1 << 16) - 1
# Bit positions of the reserve configuration word (ReserveConfiguration.sol, unchanged since v3.0).
_LTV_SHIFT, _LT_SHIFT, _BONUS_SHIFT = 0, 16, 32
_GAS_MONEY = 10**17


async def set_liquidation_grace_period(
    client: ChainClient,
    market: MarketAddresses,
    symbol: str,
    seconds: int,
    *,
    admin: str = DEV_ACCOUNTS[0],
) -> int:
    """Start a liquidation grace period of ``seconds`` (1..14400) on a reserve.

    Sent by ``admin`` (the world's emergency and pool admin); returns the timestamp the period
    lasts until (``Pool.getLiquidationGracePeriod``).
    """
    dep = Deployer(client)
    conf_c = codec_of(origin_artifact("PoolConfiguratorInstance"))
    asset = market.assets[symbol].address
    await dep.call_fn(
        admin,
        market.pool_configurator,
        conf_c,
        "setReservePause(address,bool,uint40)",
        asset,
        False,
        seconds,
    )
    pool_c = codec_of(origin_artifact("PoolInstance"))
    (until,) = await dep.read(market.pool, pool_c, "getLiquidationGracePeriod", asset)
    return int(until)


def with_collateral_params(config: int, ltv: int, threshold: int, bonus: int) -> int:
    """A reserve configuration word with its LTV, liquidation threshold and bonus replaced."""
    for shift, value in ((_LTV_SHIFT, ltv), (_LT_SHIFT, threshold), (_BONUS_SHIFT, bonus)):
        if not 0 <= value <= _MASK16:
            raise ValueError(f"collateral parameter out of range: {value}")
        config = (config & ~(_MASK16 << shift)) | (value << shift)
    return config


async def force_collateral_params(
    client: ChainClient,
    market: MarketAddresses,
    symbol: str,
    *,
    ltv: int = 0,
    liquidation_threshold: int = 0,
    liquidation_bonus: int | None = None,
) -> None:
    """Write a reserve's collateral parameters (bps) into the Pool as its PoolConfigurator.

    Defaults: LTV and LT 0, the bonus kept (``liquidation_bonus=0`` gives the configurator's
    LT-0 shape, whose collateral cannot be seized). Unlike the configurator, nothing is
    validated and no event is emitted (see the module docstring).
    """
    dep = Deployer(client)
    pool_c = codec_of(origin_artifact("PoolInstance"))
    asset = market.assets[symbol].address
    ((config,),) = await dep.read(market.pool, pool_c, "getConfiguration", asset)
    config = int(config)
    bonus = (config >> _BONUS_SHIFT) & _MASK16 if liquidation_bonus is None else liquidation_bonus
    new = with_collateral_params(config, ltv, liquidation_threshold, bonus)
    sender = market.pool_configurator
    balance = await client.request("eth_getBalance", [sender, "latest"])
    await client.request("anvil_impersonateAccount", [sender])
    await dep.set_balance(sender, _GAS_MONEY)
    try:
        await dep.call_fn(sender, market.pool, pool_c, "setConfiguration", asset, (new,))
    finally:
        await dep.set_balance(sender, int(balance, 16))
        await client.request("anvil_stopImpersonatingAccount", [sender])
