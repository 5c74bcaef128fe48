"""Batched reads of Aave V3 state at one pinned block.

Every result is either complete for its account or absent: an account whose read failed is left
out (and reported), so nothing downstream ever acts on partial data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eth_utils.address import to_checksum_address

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


@dataclass(frozen=True)
class UserEMode:
    """The account's eMode category and the terms it substitutes for its collateral."""

    category: int
    liquidation_bonus: int
    price_source: str | None
    reserve_categories: dict[str, int]


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


@dataclass(frozen=True)
class PlanInputs:
    """What planning one account's liquidation reads.

    Its positions and eMode at the head, and what is available now.
    """

    positions: list[UserReserve]
    emode: UserEMode | None
    available: Available


async def read_plan_inputs(
    client: ChainClient,
    market: Market,
    account: str,
    assets: Sequence[str],
    block: int,
    a_tokens: Mapping[str, str],
    holder: str | None = None,
) -> PlanInputs:
    """Everything planning needs in one batch (a second round trip only for an eMode account).

    The account's reserve data and eMode are pinned to ``block``; what is available (reserve
    liquidity, ``holder``'s balances and allowances) is the latest: what earlier transactions
    left. One round trip, not five or more: this is on the path from a price update to our
    broadcast.
    """
    n = len(assets)
    calls = [
        *(
            eth_call(
                market.data_provider,
                DATA_PROVIDER.encode("getUserReserveData", asset, account),
                block,
            )
            for asset in assets
        ),
        eth_call(market.pool, POOL.encode("getUserEMode", account), block),
        *(
            eth_call(
                market.data_provider, DATA_PROVIDER.encode("getReserveEModeCategory", asset), block
            )
            for asset in assets
        ),
    ]
    calls.extend(_available_calls(assets, a_tokens, holder, market.pool))
    results = [ok(r) for r in await run_calls(client, calls, len(calls))]
    positions = []
    for asset, raw in zip(assets, results[:n], strict=True):
        (a_bal, stable, variable, _p, _s, _r, _rate, _ts, used) = DATA_PROVIDER.decode(
            "getUserReserveData", raw
        )
        positions.append(UserReserve(asset, int(a_bal), int(stable), int(variable), bool(used)))
    (category,) = POOL.decode("getUserEMode", results[n])
    emode = None
    if int(category) != 0:
        ((_ltv, _lt, bonus, source, _label),) = await _call(
            client, market.pool, (POOL, "getEModeCategoryData"), int(category), block=block
        )
        categories = {
            asset: int(DATA_PROVIDER.decode("getReserveEModeCategory", raw)[0])
            for asset, raw in zip(assets, results[n + 1 : 2 * n + 1], strict=True)
        }
        price_source = None if int(source, 16) == 0 else str(to_checksum_address(source))
        emode = UserEMode(int(category), int(bonus), price_source, categories)
    return PlanInputs(positions, emode, _available(assets, results[2 * n + 1 :]))


async def read_base_currency_unit(client: ChainClient, market: Market) -> int:
    """The oracle's base currency unit (1e8 for USD-denominated markets)."""
    (unit,) = await _call(client, market.oracle, (ORACLE, "BASE_CURRENCY_UNIT"), block="latest")
    return int(unit)
