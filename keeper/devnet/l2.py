"""L2 features on a devnet: Aave's PriceOracleSentinel, and the OP stack's L1 fee predeploys.

- :func:`install_sentinel`: Aave's own ``SequencerOracle`` (aave-v3-origin's mock of a sequencer
  uptime feed: ``setAnswer(isDown, timestamp)``, ``latestRoundData()`` answering 1 while down
  and ``startedAt`` = the timestamp given) and the real ``PriceOracleSentinel(provider, oracle,
  gracePeriod)``, set with ``PoolAddressesProvider.setPriceOracleSentinel`` (owner only: the
  world's admin). Both compiled from aave-v3-origin 3.6.0 (contracts/build_aave_origin.js).
- :func:`install_gas_price_oracle`: the real ``GasPriceOracle`` and ``L1Block`` runtime code
  from ``@eth-optimism/contracts-bedrock``'s forge artifacts, placed at their predeploy
  addresses with ``anvil_setCode`` (``anvil --network optimism`` has neither), with the storage
  a chain after Fjord holds: ``isEcotone`` and ``isFjord`` (GasPriceOracle slot 0, bytes 0 and
  1) and the L1 values the sequencer's L1-attributes deposit writes into L1Block (slot 1
  ``basefee``, slot 3 ``blobBaseFeeScalar`` at byte 8 and ``baseFeeScalar`` at byte 12, slot 7
  ``blobBaseFee``; the storage layout is the artifact's).

Anvil with ``--network optimism`` charges that L1 fee on transactions and, unlike op-geth, also
requires the caller of an ``eth_call`` to afford it: a call without ``from`` is made by the zero
address, so :func:`install_gas_price_oracle` gives it a balance.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from keeper.devnet.artifacts import origin_artifact
from keeper.devnet.deployer import Deployer, codec_of
from keeper.errors import DevnetError
from keeper.localnode.anvil import DEV_ACCOUNTS
from keeper.localnode.toolchain import node_modules

if TYPE_CHECKING:
    from keeper.chain.client import ChainClient
    from keeper.devnet.aave_market import MarketAddresses

GAS_PRICE_ORACLE = "0x420000000000000000000000000000000000000F"
L1_BLOCK = "0x4200000000000000000000000000000000000015"
BEDROCK_PACKAGE = "@eth-optimism/contracts-bedrock"
_ZERO_ADDRESS = "0x" + "00" * 20
_ZERO_ADDRESS_BALANCE = 10**24


@dataclass(frozen=True)
class SentinelAddresses:
    """The sequencer uptime mock and the sentinel that reads it."""

    sequencer_oracle: str
    sentinel: str


async def install_sentinel(
    client: ChainClient,
    market: MarketAddresses,
    grace_period_s: int,
    *,
    admin: str = DEV_ACCOUNTS[0],
) -> SentinelAddresses:
    """Deploy a sequencer oracle (up since the genesis) and a sentinel; make it the market's."""
    dep = Deployer(client)
    oracle_art = origin_artifact("SequencerOracle")
    oracle = await dep.deploy(admin, oracle_art, [admin])
    sentinel = await dep.deploy(
        admin,
        origin_artifact("PriceOracleSentinel"),
        [market.pool_addresses_provider, oracle, grace_period_s],
    )
    provider_c = codec_of(origin_artifact("PoolAddressesProvider"))
    await dep.call_fn(
        admin, market.pool_addresses_provider, provider_c, "setPriceOracleSentinel", sentinel
    )
    return SentinelAddresses(oracle, sentinel)


async def set_sequencer(
    client: ChainClient,
    sequencer_oracle: str,
    *,
    down: bool,
    since: int,
    admin: str = DEV_ACCOUNTS[0],
) -> None:
    """Report the sequencer down (or up) since the timestamp ``since``."""
    codec = codec_of(origin_artifact("SequencerOracle"))
    await Deployer(client).call_fn(admin, sequencer_oracle, codec, "setAnswer", down, since)


@dataclass(frozen=True)
class L1Values:
    """What the L1-attributes deposit writes into L1Block (wei and the Ecotone scalars)."""

    base_fee: int = 20 * 10**9
    blob_base_fee: int = 10**9
    base_fee_scalar: int = 2269  # Base mainnet's in 2025
    blob_base_fee_scalar: int = 1_055_762


def _runtime_code(contract: str) -> str:
    path = (
        node_modules()
        / BEDROCK_PACKAGE
        / "forge-artifacts"
        / f"{contract}.sol"
        / f"{contract}.json"
    )
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise DevnetError(f"{path} missing: run `npm install` in the repository") from None
    return str(data["deployedBytecode"]["object"])


def _word(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


async def install_gas_price_oracle(client: ChainClient, values: L1Values | None = None) -> None:
    """Place GasPriceOracle and L1Block at their predeploys, post-Fjord, with ``values``."""
    await client.request("anvil_setCode", [GAS_PRICE_ORACLE, _runtime_code("GasPriceOracle")])
    await client.request("anvil_setCode", [L1_BLOCK, _runtime_code("L1Block")])
    # isEcotone (byte 0) and isFjord (byte 1) of slot 0.
    await client.request("anvil_setStorageAt", [GAS_PRICE_ORACLE, _word(0), _word(0x0101)])
    await set_l1_values(client, values or L1Values())
    await Deployer(client).set_balance(_ZERO_ADDRESS, _ZERO_ADDRESS_BALANCE)


async def set_l1_values(client: ChainClient, values: L1Values) -> None:
    """Write L1Block's fee inputs (as a new L1-attributes deposit would)."""
    scalars = (values.blob_base_fee_scalar << 64) | (values.base_fee_scalar << 96)
    for slot, word in ((1, values.base_fee), (3, scalars), (7, values.blob_base_fee)):
        await client.request("anvil_setStorageAt", [L1_BLOCK, _word(slot), _word(word)])
