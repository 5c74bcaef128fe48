"""Batched reads of Aave V3 state at one pinned block.

Every result is either complete for its account or absent: an account whose read failed is left
out (and reported), so nothing downstream ever acts on partial data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from keeper.chain.batch import Call, eth_call, ok, run_calls
from keeper.errors import RpcError, TransientRpcError
from keeper.protocols.aave_v3.market import DATA_PROVIDER, ERC20, ORACLE, POOL

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from keeper.chain.client import ChainClient
    from keeper.protocols.aave_v3.market import Market

MAX_UINT256 = 2**256 - 1


@dataclass(frozen=True)
class AccountData:
    """``Pool.getUserAccountData``: base-currency totals and the health factor (wad)."""

    account: str
    total_collateral_base: int
    total_debt_base: int
    available_borrows_base: int
    current_liquidation_threshold: int
    ltv: int
    health_factor: int


@dataclass(frozen=True)
class ReserveInfo:
    """A reserve's listing and risk configuration (from the protocol data provider)."""

    asset: str
    symbol: str
    decimals: int
    ltv: int
    liquidation_threshold: int
    liquidation_bonus: int
    liquidation_protocol_fee: int
    active: bool
    frozen: bool
    paused: bool


def account_fields(data: AccountData | None) -> dict[str, int] | None:
    """The fields of account data by name (for logs; None stays None)."""
    if data is None:
        return None
    return {
        "total_collateral_base": data.total_collateral_base,
        "total_debt_base": data.total_debt_base,
        "available_borrows_base": data.available_borrows_base,
        "current_liquidation_threshold": data.current_liquidation_threshold,
        "ltv": data.ltv,
        "health_factor": data.health_factor,
    }


async def read_account_data(
    client: ChainClient, market: Market, accounts: Sequence[str], block: int, batch_size: int
) -> tuple[dict[str, AccountData], dict[str, RpcError]]:
    """``getUserAccountData`` for every account at ``block``: (data, failures)."""
    calls = [eth_call(market.pool, POOL.encode("getUserAccountData", a), block) for a in accounts]
    results = await run_calls(client, calls, batch_size)
    data: dict[str, AccountData] = {}
    failed: dict[str, RpcError] = {}
    for account, raw in zip(accounts, results, strict=True):
        if isinstance(raw, RpcError):
            failed[account] = raw
            continue
        if len(raw) != 6 * 32:
            failed[account] = TransientRpcError("short answer", method="getUserAccountData")
            continue
        values = POOL.decode("getUserAccountData", raw)
        data[account] = AccountData(account, *(int(v) for v in values))
    return data, failed


async def _call(
    client: ChainClient, to: str, codec_fn: tuple[Any, str], *args: Any, block: int | str
) -> tuple[Any, ...]:
    codec, fn = codec_fn
    return tuple(codec.decode(fn, await client.call(to, codec.encode(fn, *args), block)))


async def read_reserves(client: ChainClient, market: Market, block: int) -> list[ReserveInfo]:
    """Every listed reserve with its configuration at ``block``."""
    (assets,) = await _call(client, market.pool, (POOL, "getReservesList"), block=block)
    reserves = []
    for asset in assets:
        (decimals, ltv, lt, bonus, _rf, _coll, _borrow, _stable, active, frozen) = await _call(
            client,
            market.data_provider,
            (DATA_PROVIDER, "getReserveConfigurationData"),
            asset,
            block=block,
        )
        (fee,) = await _call(
            client,
            market.data_provider,
            (DATA_PROVIDER, "getLiquidationProtocolFee"),
            asset,
            block=block,
        )
        (paused,) = await _call(
            client, market.data_provider, (DATA_PROVIDER, "getPaused"), asset, block=block
        )
        try:
            (symbol,) = await _call(client, asset, (ERC20, "symbol"), block=block)
        except RpcError:
            symbol = asset[:10]
        reserves.append(
            ReserveInfo(
                str(asset),
                str(symbol),
                int(decimals),
                int(ltv),
                int(lt),
                int(bonus),
                int(fee),
                bool(active),
                bool(frozen),
                bool(paused),
            )
        )
    return reserves


@dataclass(frozen=True)
class Available:
    """What can be used now (at the latest block).

    The underlying each reserve's aToken holds (what a liquidation can seize from it) and, for
    a liquidator paying from inventory, its token balances and allowances to the Pool.
    """

    liquidity: dict[str, int]
    balances: dict[str, int] | None = None
    allowances: dict[str, int] | None = None


def _available_calls(
    assets: Sequence[str], a_tokens: Mapping[str, str], holder: str | None, spender: str
) -> list[Call]:
    def latest(token: str, data: str) -> Call:
        return ("eth_call", [{"to": token, "data": data}, "latest"])

    calls = [latest(a, ERC20.encode("balanceOf", a_tokens[a])) for a in assets]
    if holder is not None:
        calls.extend(latest(a, ERC20.encode("balanceOf", holder)) for a in assets)
        calls.extend(latest(a, ERC20.encode("allowance", holder, spender)) for a in assets)
    return calls


def _available(assets: Sequence[str], raws: Sequence[bytes]) -> Available:
    """From the results of ``_available_calls``, in order."""
    n = len(assets)

    def amounts(fn: str, part: Sequence[bytes]) -> dict[str, int]:
        return {a: int(ERC20.decode(fn, r)[0]) for a, r in zip(assets, part, strict=True)}

    if len(raws) == n:
        return Available(amounts("balanceOf", raws))
    return Available(
        amounts("balanceOf", raws[:n]),
        amounts("balanceOf", raws[n : 2 * n]),
        amounts("allowance", raws[2 * n :]),
    )


async def read_available(
    client: ChainClient,
    market: Market,
    assets: Sequence[str],
    a_tokens: Mapping[str, str],
    holder: str | None = None,
) -> Available:
    """Reserve liquidity and ``holder``'s balances and allowances to the Pool now, one batch."""
    calls = _available_calls(assets, a_tokens, holder, market.pool)
    return _available(assets, [ok(r) for r in await run_calls(client, calls, len(calls))])


async def read_base_currency_unit(client: ChainClient, market: Market) -> int:
    """The oracle's base currency unit (1e8 for USD-denominated markets)."""
    (unit,) = await _call(client, market.oracle, (ORACLE, "BASE_CURRENCY_UNIT"), block="latest")
    return int(unit)
