"""Aave rivals in the mempool: which account a pending transaction liquidates (no node)."""

from __future__ import annotations

from keeper.chain.abi import Codec
from keeper.chain.types import PendingTx
from keeper.protocols.aave_v3.market import POOL
from keeper.protocols.aave_v3.rivals import LIQUIDATION_CALL, liquidated_account

POOL_ADDRESS = "0x" + "a1" * 20
USER = "0x00000000000000000000000000000000DeaDBeef"
WETH, USDC = "0x" + "0e" * 20, "0x" + "0c" * 20


def _tx(to: str | None, data: str, tip: int | None = 2 * 10**9) -> PendingTx:
    return PendingTx("0x" + "11" * 32, "0x" + "22" * 20, to, data, 30 * 10**9, tip)


def test_a_liquidation_call_to_the_pool_names_its_user():
    """liquidationCall(collateral, debt, user, amount, receiveAToken) sent to our Pool, as an
    EIP-1559 or a legacy transaction, whatever the case of the address: its user, lower case.
    """
    data = POOL.encode("liquidationCall", WETH, USDC, USER, 2**256 - 1, False)
    assert data.startswith(LIQUIDATION_CALL)
    assert liquidated_account(_tx(POOL_ADDRESS, data), POOL_ADDRESS) == USER.lower()
    assert liquidated_account(_tx(POOL_ADDRESS.upper(), data, None), POOL_ADDRESS) == USER.lower()


def test_anything_else_is_no_rival():
    """The same call to another contract, another Pool function, a contract creation and
    truncated calldata name no account.
    """
    data = POOL.encode("liquidationCall", WETH, USDC, USER, 10**6, True)
    assert liquidated_account(_tx("0x" + "b2" * 20, data), POOL_ADDRESS) is None
    supply = POOL.encode("supply", USDC, 10**6, USER, 0)
    assert liquidated_account(_tx(POOL_ADDRESS, supply), POOL_ADDRESS) is None
    assert liquidated_account(_tx(None, data), POOL_ADDRESS) is None
    assert liquidated_account(_tx(POOL_ADDRESS, data[:80]), POOL_ADDRESS) is None


def test_a_copy_of_our_keeper_is_a_rival_through_its_contract():
    """Another operator's FlashLiquidator (any address): liquidateFrom and liquidate (encoded
    with the compiled ABI) name the Order's user; truncated calldata names nobody.
    """
    liquidator = Codec.named("FlashLiquidator")
    order = (WETH, USDC, USER, 10**6, "0x" + "0d" * 20, 123, 0)
    contract = "0x" + "c3" * 20
    inventory = liquidator.encode("liquidateFrom", order, 10**6)
    flash = liquidator.encode("liquidate", order, 3000, 1, 2, 3)
    for data in (inventory, flash):
        assert liquidated_account(_tx(contract, data), POOL_ADDRESS) == USER.lower()
    assert liquidated_account(_tx(contract, inventory[:100]), POOL_ADDRESS) is None
