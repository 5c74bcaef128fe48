"""Which inventory executor the wiring builds, and the start-up refusals around our contract."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from keeper.app import Keeper
from keeper.errors import ConfigError
from keeper.execution.inventory import InventoryExecutor
from keeper.execution.through_contract import ContractInventoryExecutor
from tests.support.fake_market import FakeMarket, QuietNode, offline_settings

if TYPE_CHECKING:
    from pathlib import Path

KEY = "0x" + "59" * 32
CONTRACT = "0x" + "77" * 20


def test_aave_inventory_mode_without_our_contract_refuses_to_start(tmp_path: Path):
    """Inventory mode on Aave with neither flash_liquidator nor inventory_direct: a ConfigError
    naming flash_liquidator and both ways out (deploy-liquidator, inventory_direct).
    """
    settings = offline_settings(tmp_path, KEY, inventory_direct=False)
    with pytest.raises(ConfigError, match="flash_liquidator") as err:
        Keeper(settings, QuietNode(), 1, FakeMarket())
    assert "keeper deploy-liquidator" in str(err.value)
    assert "inventory_direct" in str(err.value)


def test_the_contract_path_is_the_inventory_executor_unless_direct_is_asked(tmp_path: Path):
    """With flash_liquidator set, inventory liquidations go through the contract (the Pool sees
    the contract, the keeper's tokens pay); inventory_direct keeps the direct executor.
    """
    through = offline_settings(tmp_path, KEY, inventory_direct=False, flash_liquidator=CONTRACT)
    keeper = Keeper(through, QuietNode(), 1, FakeMarket())
    executor = keeper.execution.executor
    assert isinstance(executor, ContractInventoryExecutor)
    assert executor.liquidator.lower() == CONTRACT
    assert executor.holder == keeper.signer.address
    keeper.journal.close()
    (tmp_path / "d").mkdir()
    direct = offline_settings(tmp_path / "d", KEY, flash_liquidator=CONTRACT)
    keeper = Keeper(direct, QuietNode(), 1, FakeMarket())
    assert isinstance(keeper.execution.executor, InventoryExecutor)
    keeper.journal.close()


def test_a_coinbase_payment_needs_our_contract(tmp_path: Path):
    """coinbase_payment without the contract (or on the direct path): refused at start, naming
    the setting.
    """
    settings = offline_settings(tmp_path, KEY, coinbase_payment=True)
    with pytest.raises(ConfigError, match="coinbase_payment"):
        Keeper(settings, QuietNode(), 1, FakeMarket())


def test_a_coinbase_payment_on_morpho_needs_flash_mode(tmp_path: Path):
    """On Morpho Blue, coinbase_payment is refused in inventory mode (Morpho's direct call has
    no contract of ours to pay it) and accepted in flash mode with our MorphoLiquidator.
    """
    morpho = {"protocol": "morpho_blue", "morpho": "0x" + "22" * 20, "flash_liquidator": CONTRACT}
    inventory = offline_settings(tmp_path, KEY, coinbase_payment=True, **morpho)
    with pytest.raises(ConfigError, match=r"coinbase_payment.*Morpho: flash mode"):
        Keeper(inventory, QuietNode(), 1, FakeMarket())
    flash = offline_settings(
        tmp_path,
        KEY,
        coinbase_payment=True,
        execution_mode="flash",
        uniswap_quoter="0x" + "33" * 20,
        **morpho,
    )
    keeper = Keeper(flash, QuietNode(), 1, FakeMarket())
    assert keeper.execution.executor.liquidator.lower() == CONTRACT
    keeper.journal.close()
