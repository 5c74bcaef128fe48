"""The L2 example configs load, and their addresses are the Aave address book's.

The address book is the npm package ``@aave-dao/aave-address-book`` (installed by ``make
setup``): its Solidity libraries ``src/AaveV3<Market>.sol`` hold the addresses, its compiled
``dist/AaveV3<Market>.js`` the chain id.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from keeper.chain.l1_fee import L1FeeModel, resolve_model
from keeper.localnode.toolchain import node_modules
from keeper.settings import load_settings

CONFIG = Path(__file__).resolve().parents[2] / "config"
BOOK = "@aave-dao/aave-address-book"
EXAMPLES = {
    "base.example.toml": ("AaveV3Base", L1FeeModel.OP_STACK),
    "optimism.example.toml": ("AaveV3Optimism", L1FeeModel.OP_STACK),
    "arbitrum.example.toml": ("AaveV3Arbitrum", L1FeeModel.ARBITRUM),
}


def _book(library: str) -> dict[str, str | int]:
    """The addresses and chain id the address book gives a market."""
    root = node_modules() / BOOK
    source = (root / "src" / f"{library}.sol").read_text()
    compiled = (root / "dist" / f"{library}.js").read_text()
    provider = re.search(
        r"POOL_ADDRESSES_PROVIDER =\s*IPoolAddressesProvider\((0x[0-9a-fA-F]{40})\)", source
    )
    weth = re.search(r"WETH_UNDERLYING = (0x[0-9a-fA-F]{40});", source)
    chain = re.search(r"var CHAIN_ID = (\d+);", compiled)
    if provider is None or weth is None or chain is None:
        raise AssertionError(f"{library}: the address book's layout changed")
    return {"provider": provider.group(1), "weth": weth.group(1), "chain_id": int(chain.group(1))}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_an_l2_example_loads_with_the_address_books_addresses(name, monkeypatch):
    """Each L2 example loads with load_settings as shipped; its PoolAddressesProvider, chain
    id and native-price asset (WETH) are the address book's, and its L1 fee model is the
    chain's known one.
    """
    for var in ("KEEPER_RPC_URL", "KEEPER_PRIVATE_KEY", "KEEPER_L1_FEE_MODEL", "KEEPER_CHAIN_ID"):
        monkeypatch.delenv(var, raising=False)
    library, model = EXAMPLES[name]
    settings = load_settings(CONFIG / name)
    book = _book(library)
    assert settings.pool_addresses_provider == book["provider"]
    assert settings.chain_id == book["chain_id"]
    assert settings.native_price_asset == book["weth"]
    assert settings.l1_fee_model == model.value
    assert resolve_model(None, int(book["chain_id"])) is model
    assert settings.private_key is None
