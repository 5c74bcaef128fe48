"""Finding a market's contracts from its PoolAddressesProvider."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from keeper.chain.abi import Codec
from keeper.errors import ConfigError, ContractRevertError

if TYPE_CHECKING:
    from keeper.chain.client import BlockId, ChainClient

PROVIDER = Codec.named("aave_v3/IPoolAddressesProvider")
POOL = Codec.named("aave_v3/IPool")
ORACLE = Codec.named("aave_v3/IAaveOracle")
DATA_PROVIDER = Codec.named("aave_v3/IPoolDataProvider")
ERC20 = Codec.named("aave_v3/IERC20Detailed")
_ZERO = "0x" + "00" * 20


@dataclass(frozen=True)
class Market:
    """The contracts of one Aave V3 market that the keeper talks to."""

    addresses_provider: str
    pool: str
    oracle: str
    data_provider: str
    configurator: str


async def resolve_market(client: ChainClient, provider: str, block: BlockId = "latest") -> Market:
    """Read the Pool, oracle and data provider addresses; fail clearly if this is no provider."""
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
    return Market(provider, *results)
