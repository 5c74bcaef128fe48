"""`keeper deploy-liquidator` for inventory mode (no router): the contract owned by the key, every
reserve approved to it once, ether for coinbase bids; `check-config` accepts it only for its
owner.
"""

from __future__ import annotations

import json

import pytest
from eth_account import Account

from keeper.chain.abi import Codec
from keeper.chain.client import ChainClient
from keeper.protocols.aave_v3.market import ERC20
from tests.integration.helpers import keeper_cli_as

pytestmark = pytest.mark.integration
LIQUIDATOR = Codec.named("FlashLiquidator")
OWNER_KEY = "0x" + "43" * 32
OTHER_KEY = "0x" + "44" * 32
MAX_UINT = 2**256 - 1


@pytest.mark.asyncio
async def test_deploy_liquidator_approves_every_reserve_and_funds_the_bids(devnet, tmp_path):
    """A key with only gas money deploys the contract without a router: it owns it, every
    reserve is approved to it without limit, it holds the 0.5 ether asked for; the key never
    shows in the output; check-config passes for the owner and exits 2 naming flash_liquidator
    for another key.
    """
    owner = Account.from_key(OWNER_KEY).address
    async with ChainClient(devnet.url) as client:
        for key in (OWNER_KEY, OTHER_KEY):
            address = Account.from_key(key).address
            await client.request("anvil_setBalance", [address, hex(10 * 10**18)])
        journal = tmp_path / "j.sqlite"
        done = keeper_cli_as(devnet, OWNER_KEY, journal, "deploy-liquidator", "--fund-eth", "0.5")
        assert done.returncode == 0, done.stderr
        assert OWNER_KEY[2:] not in done.stdout + done.stderr
        out = json.loads(done.stdout)
        contract = out["flash_liquidator"]
        assert out["funded_wei"] == 5 * 10**17
        assert await client.get_balance(contract) == 5 * 10**17
        raw = await client.call(contract, LIQUIDATOR.encode("owner"))
        (found,) = LIQUIDATOR.decode("owner", raw)
        assert found == owner
        assets = {a.address for a in devnet.world.market.assets.values()}
        assert {a.lower() for a in out["approved"]} == {a.lower() for a in assets}
        for asset in assets:
            raw = await client.call(asset, ERC20.encode("allowance", owner, contract))
            assert ERC20.decode("allowance", raw)[0] == MAX_UINT
    ok = keeper_cli_as(devnet, OWNER_KEY, tmp_path / "a.sqlite", "check-config", contract=contract)
    assert ok.returncode == 0, ok.stderr
    wrong = keeper_cli_as(
        devnet, OTHER_KEY, tmp_path / "b.sqlite", "check-config", contract=contract
    )
    assert wrong.returncode == 2, wrong.stderr
    assert "flash_liquidator" in wrong.stderr and "owned by" in wrong.stderr
