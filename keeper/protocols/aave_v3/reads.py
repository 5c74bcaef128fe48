"""Batched reads of Aave V3 state at one pinned block.

Every result is either complete for its account or absent: an account whose read failed is left
out (and reported), so nothing downstream ever acts on partial data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eth_utils.address import to_checksum_address
from hexbytes import HexBytes

from keeper.chain.batch import eth_call, run_calls
from keeper.errors import RpcError, TransientRpcError
from keeper.protocols.aave_v3.market import DATA_PROVIDER, ERC20, ORACLE, POOL

if TYPE_CHECKING:
    from collections.abc import Sequence

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


@dataclass(frozen=True)
class UserReserve:
    """One account's balances in one reserve, in token units, interest included."""

    asset: str
    collateral: int  # aToken balance
    stable_debt: int
    variable_debt: int
    used_as_collateral: bool

    @property
    def debt(self) -> int:
        """Stable plus variable debt."""
        return self.stable_debt + self.variable_debt


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


async def read_user_reserves(
    client: ChainClient, market: Market, account: str, assets: Sequence[str], block: int
) -> list[UserReserve]:
    """The account's balances in every reserve at ``block``, in one batch."""
    calls = [
        eth_call(
            market.data_provider, DATA_PROVIDER.encode("getUserReserveData", asset, account), block
        )
        for asset in assets
    ]
    out = []
    for asset, raw in zip(assets, await run_calls(client, calls, len(calls)), strict=True):
        if isinstance(raw, RpcError):
            raise raw
        (a_bal, stable, variable, _p, _s, _r, _rate, _ts, used) = DATA_PROVIDER.decode(
            "getUserReserveData", raw
        )
        out.append(UserReserve(asset, int(a_bal), int(stable), int(variable), bool(used)))
    return out


async def read_balances(
    client: ChainClient, holder: str, assets: Sequence[str], block: int | str = "latest"
) -> dict[str, int]:
    """ERC-20 balances of ``holder``."""
    calls: list[tuple[str, list[Any]]] = [
        (
            "eth_call",
            [
                {"to": a, "data": ERC20.encode("balanceOf", holder)},
                hex(block) if isinstance(block, int) else block,
            ],
        )
        for a in assets
    ]
    out: dict[str, int] = {}
    for asset, raw in zip(assets, await client.batch(calls), strict=True):
        if isinstance(raw, RpcError):
            raise raw
        (value,) = ERC20.decode("balanceOf", bytes(HexBytes(raw)))
        out[asset] = int(value)
    return out


@dataclass(frozen=True)
class UserEMode:
    """The account's eMode category and the terms it substitutes for its collateral."""

    category: int
    liquidation_bonus: int
    price_source: str | None
    reserve_categories: dict[str, int]


async def read_user_emode(
    client: ChainClient, market: Market, account: str, assets: Sequence[str], block: int
) -> UserEMode | None:
    """None when the account is not in eMode."""
    (category,) = await _call(client, market.pool, (POOL, "getUserEMode"), account, block=block)
    if int(category) == 0:
        return None
    ((_ltv, _lt, bonus, source, _label),) = await _call(
        client, market.pool, (POOL, "getEModeCategoryData"), int(category), block=block
    )
    categories = {}
    for asset in assets:
        (cat,) = await _call(
            client,
            market.data_provider,
            (DATA_PROVIDER, "getReserveEModeCategory"),
            asset,
            block=block,
        )
        categories[asset] = int(cat)
    price_source = None if int(source, 16) == 0 else str(to_checksum_address(source))
    return UserEMode(int(category), int(bonus), price_source, categories)


async def read_base_currency_unit(client: ChainClient, market: Market) -> int:
    """The oracle's base currency unit (1e8 for USD-denominated markets)."""
    (unit,) = await _call(client, market.oracle, (ORACLE, "BASE_CURRENCY_UNIT"), block="latest")
    return int(unit)
