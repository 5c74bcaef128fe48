"""Oracle prices against Uniswap V3 pool prices, for the deviation breaker.

A feed that disagrees with the market by much is either broken, stale, or being manipulated;
liquidating on it is how keepers lose money (or take part in an attack). Each reserve is
compared with the reference asset (the wrapped native token) through the pool of the pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from keeper.chain.abi import Codec
from keeper.chain.batch import eth_call, run_calls
from keeper.errors import RpcError

if TYPE_CHECKING:
    from keeper.chain.client import ChainClient

FACTORY = Codec.named("uniswap_v3/IUniswapV3Factory")
POOL = Codec.named("uniswap_v3/IUniswapV3Pool")
FEE_TIERS = (500, 3000, 10000, 100)
Q192 = 2**192
BPS = 10_000
_ZERO = "0x" + "00" * 20


def deviation_bps(
    sqrt_price_x96: int,
    asset_is_token0: bool,
    asset_price: int,
    asset_decimals: int,
    ref_price: int,
    ref_decimals: int,
) -> int:
    """How far the pool's price of the asset (in the reference asset) is from the oracle's.

    In basis points of the oracle's price, rounded down; exact integers.

    The pool's price is token1 units per token0 unit, (sqrtPriceX96 / 2^96)^2. The oracle's,
    in reference units per asset unit, is asset_price * 10^ref_dec / (ref_price * 10^asset_dec).
    """
    s2 = sqrt_price_x96 * sqrt_price_x96
    oracle_num = asset_price * 10**ref_decimals
    oracle_den = ref_price * 10**asset_decimals
    if asset_is_token0:  # pool: s2 / Q192 reference units per asset unit
        dex_num, dex_den = s2, Q192
    else:  # pool: Q192 / s2
        dex_num, dex_den = Q192, s2
    if oracle_num == 0 or dex_den == 0:
        return BPS  # a zero price on either side is as far off as it gets
    diff = abs(dex_num * oracle_den - oracle_num * dex_den)
    return int(diff * BPS // (oracle_num * dex_den))


@dataclass(frozen=True)
class PoolRef:
    """The pool pricing one asset against the reference."""

    pool: str
    asset_is_token0: bool


class DexPriceCheck:
    """Finds each reserve's pool against the reference once, then reads pool prices."""

    def __init__(self, client: ChainClient, factory: str) -> None:
        self.client = client
        self.factory = factory
        self.fees = FEE_TIERS
        self._pools: dict[tuple[str, str], PoolRef | None] = {}

    async def _pool(self, asset: str, ref: str) -> PoolRef | None:
        """The deepest pool of the pair over the fee tiers (a thin pool's price means little)."""
        key = (asset, ref)
        if key not in self._pools:
            best: tuple[int, str] | None = None
            for fee in self.fees:
                raw = await self.client.call(
                    self.factory, FACTORY.encode("getPool", asset, ref, fee)
                )
                (pool,) = FACTORY.decode("getPool", raw)
                if str(pool).lower() == _ZERO:
                    continue
                raw = await self.client.call(pool, POOL.encode("liquidity"))
                liquidity = int(POOL.decode("liquidity", raw)[0])
                if liquidity > 0 and (best is None or liquidity > best[0]):
                    best = (liquidity, str(pool))
            self._pools[key] = (
                None if best is None else PoolRef(best[1], int(asset, 16) < int(ref, 16))
            )
        return self._pools[key]

    async def deviations(
        self, ref: str, prices: dict[str, int], decimals: dict[str, int], block: int
    ) -> dict[str, int]:
        """Asset -> deviation in bps, for every asset with a pool against ``ref``."""
        refs = {}
        for asset in prices:
            if asset != ref:
                pool = await self._pool(asset, ref)
                if pool is not None:
                    refs[asset] = pool
        if not refs:
            return {}
        calls = [eth_call(p.pool, POOL.encode("slot0"), block) for p in refs.values()]
        results = await run_calls(self.client, calls, len(calls))
        out = {}
        for (asset, pool), raw in zip(refs.items(), results, strict=True):
            if isinstance(raw, RpcError):
                raise raw
            sqrt_price = int(POOL.decode("slot0", raw)[0])
            out[asset] = deviation_bps(
                sqrt_price,
                pool.asset_is_token0,
                prices[asset],
                decimals[asset],
                prices[ref],
                decimals[ref],
            )
        return out
