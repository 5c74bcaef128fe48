"""Finding a market's contracts from its PoolAddressesProvider."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from keeper.chain.abi import Codec
from keeper.errors import ConfigError, ContractRevertError
from keeper.protocols.aave_v3.versions import AaveVersion, PoolRules, checked_version

if TYPE_CHECKING:
    from keeper.chain.client import BlockId, ChainClient

PROVIDER = Codec.named("aave_v3/IPoolAddressesProvider")
POOL = Codec.named("aave_v3/IPool")
ORACLE = Codec.named("aave_v3/IAaveOracle")
DATA_PROVIDER = Codec.named("aave_v3/IPoolDataProvider")
ERC20 = Codec.named("aave_v3/IERC20Detailed")
# Pools of v3.1+ add getters (eMode bitmaps, grace periods, deficits) and custom errors.
POOL_V36 = Codec.named("aave_v3_6/IPool")
CONFIGURATOR_V36 = Codec.named("aave_v3_6/IPoolConfigurator")
POOL_ERRORS = Codec.named("aave_v3_6/Errors")
# POOL_REVISION() is a constant of the Pool implementation, in no interface ABI.
REVISION = Codec(
    [
        {
            "type": "function",
            "name": "POOL_REVISION",
            "inputs": [],
            "outputs": [{"name": "", "type": "uint256"}],
            "stateMutability": "view",
        }
    ]
)
_ZERO = "0x" + "00" * 20


@dataclass(frozen=True)
class Market:
    """The contracts of one Aave V3 market that the keeper talks to."""

    addresses_provider: str
    pool: str
    oracle: str
    data_provider: str
    configurator: str
    rules: PoolRules = field(default_factory=PoolRules)  # the Pool's version, from POOL_REVISION()


async def resolve_market(
    client: ChainClient,
    provider: str,
    block: BlockId = "latest",
    pool_version: AaveVersion | None = None,
) -> Market:
    """Read the Pool, oracle and data provider addresses and the Pool's version.

    Fails clearly if this is no provider, if the Pool's revision is unknown, or if it disagrees
    with ``pool_version`` (the operator's optional check).
    """
    calls = [("getPool",), ("getPriceOracle",), ("getPoolDataProvider",), ("getPoolConfigurator",)]
    results: list[str] = []
    for (fn,) in calls:
        try:
            raw = await client.call(provider, PROVIDER.encode(fn), block)
        except ContractRevertError:
            raw = b""
        if len(raw) < 32:
            raise ConfigError(
                f"pool_addresses_provider {provider} does not answer {fn}(): "
                "check the address and that rpc_url points at the right chain"
            )
        (address,) = PROVIDER.decode(fn, raw)
        if address == _ZERO:
            raise ConfigError(f"pool_addresses_provider {provider}: {fn}() is not set")
        results.append(str(address))
    pool = results[0]
    try:
        raw = await client.call(pool, REVISION.encode("POOL_REVISION"), block)
    except ContractRevertError:
        raw = b""
    if len(raw) < 32:
        raise ConfigError(
            f"pool_addresses_provider {provider}: its Pool {pool} does not answer "
            "POOL_REVISION(): is this an Aave V3 market?"
        )
    (revision,) = REVISION.decode("POOL_REVISION", raw)
    rules = PoolRules(checked_version(int(revision), pool_version))
    pool, oracle, data_provider, configurator = results
    return Market(provider, pool, oracle, data_provider, configurator, rules)
