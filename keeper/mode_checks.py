"""Settings that go together across keys, checked when the keeper is built (exit 2).

The execution mode, our contract and the coinbase payment: each combination that cannot work
is a :class:`~keeper.errors.ConfigError` naming the keys and the fix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from keeper.errors import ConfigError

if TYPE_CHECKING:
    from keeper.settings import Settings


def check_execution_settings(settings: Settings) -> None:
    """Raise ConfigError for an execution mode its settings cannot run."""
    if settings.execution_mode == "flash" and (
        settings.flash_liquidator is None or settings.uniswap_quoter is None
    ):
        raise ConfigError(
            'flash_liquidator, uniswap_quoter: execution_mode = "flash" needs both '
            "(deploy the contract with `keeper deploy-liquidator`)"
        )
    if (
        settings.protocol == "aave_v3"
        and settings.execution_mode == "inventory"
        and settings.flash_liquidator is None
        and not settings.inventory_direct
    ):
        raise ConfigError(
            "flash_liquidator: inventory mode sends liquidations through our contract (a "
            "lost race then costs ~35k gas, not a revert deep in the Pool): deploy it with "
            "`keeper deploy-liquidator` and set flash_liquidator to the address it prints, "
            "or set inventory_direct = true for the old direct path"
        )
    if settings.coinbase_payment and not _through_our_contract(settings):
        raise ConfigError(
            "coinbase_payment: the bid is paid by our contract, so it needs flash_liquidator "
            "(Aave, not inventory_direct; Morpho: flash mode); deploy it with "
            "`keeper deploy-liquidator`"
        )
    if settings.svr_aggregators and not _through_our_contract(settings):
        raise ConfigError(
            "svr_aggregators: an SVR back-run is one transaction through our contract, so it "
            "needs flash_liquidator (Aave, not inventory_direct; Morpho: flash mode); deploy it "
            "with `keeper deploy-liquidator`"
        )


def _through_our_contract(settings: Settings) -> bool:
    """Whether liquidations go through our contract (Aave: not inventory_direct; Morpho: flash)."""
    if settings.flash_liquidator is None:
        return False
    if settings.execution_mode != "inventory":
        return True
    return not settings.inventory_direct and settings.protocol == "aave_v3"
