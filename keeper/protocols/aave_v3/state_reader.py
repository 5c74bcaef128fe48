"""Reading reserve and account state at one pinned block, in JSON-RPC batches.

An account is returned only when every read for it succeeded at that block; otherwise it is
reported as failed (and stays dirty upstream), so the health engine never sees half an account.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from eth_utils.address import to_checksum_address

from keeper.chain.abi import Codec
from keeper.chain.batch import Call, eth_call, ok, run_calls
from keeper.errors import ContractRevertError, RpcError
from keeper.protocols.aave_v3.config import ReserveConfig, is_borrowing, is_using_as_collateral
from keeper.protocols.aave_v3.market import ERC20, ORACLE, POOL, POOL_V36
from keeper.protocols.aave_v3.sentinel import allowed_call, decode_allowed
from keeper.protocols.aave_v3.state import AccountState, EModeCategory, ReserveState, StableDebt

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from keeper.chain.client import ChainClient
    from keeper.protocols.aave_v3.market import Market

ATOKEN = Codec.named("aave_v3/IAToken")
STABLE_DEBT = Codec.named("aave_v3/IStableDebtToken")
VARIABLE_DEBT = Codec.named("aave_v3/IVariableDebtToken")


async def read_reserve_list(client: ChainClient, market: Market, block: int) -> list[str]:
    """The listed reserves' assets."""
    raw = await client.call(market.pool, POOL.encode("getReservesList"), block)
    return [str(a) for a in POOL.decode("getReservesList", raw)[0]]


async def read_reserve_states(
    client: ChainClient,
    market: Market,
    assets: Sequence[str],
    block: int,
    a_tokens: Mapping[str, str] | None = None,
) -> list[ReserveState]:
    """``getReserveData`` of each asset at ``block`` (one batch); raises on any failure.

    On pools that have them, each reserve's liquidation grace period (3.1+) and deficit (3.3+)
    come in the same batch; with ``a_tokens`` (the reserves' aTokens, as known), each one's
    cash too (the underlying its aToken holds).
    """
    rules = market.rules
    cash_calls = [
        eth_call(a, ERC20.encode("balanceOf", a_tokens[a]), block)
        for a in assets
        if a_tokens is not None and a in a_tokens
    ]
    calls = [eth_call(market.pool, POOL.encode("getReserveData", a), block) for a in assets]
    if rules.grace_period:
        calls += [
            eth_call(market.pool, POOL_V36.encode("getLiquidationGracePeriod", a), block)
            for a in assets
        ]
    if rules.close_factor_on_total_debt:
        calls += [
            eth_call(market.pool, POOL_V36.encode("getReserveDeficit", a), block) for a in assets
        ]
    calls += cash_calls
    results = [ok(r) for r in await run_calls(client, calls, len(calls) or 1)]
    cash_raws, results = (
        results[len(results) - len(cash_calls) :],
        results[: len(results) - len(cash_calls)],
    )
    cash_assets = [a for a in assets if a_tokens is not None and a in a_tokens]
    cash = {
        a: int(ERC20.decode("balanceOf", raw)[0])
        for a, raw in zip(cash_assets, cash_raws, strict=True)
    }
    n = len(assets)
    graces = results[n : 2 * n] if rules.grace_period else [None] * n
    deficits = results[len(results) - n :] if rules.close_factor_on_total_debt else [None] * n
    states = []
    for asset, raw, grace, deficit in zip(assets, results[:n], graces, deficits, strict=True):
        ((config,), li, lr, vbi, vbr, _sbr, last, rid, a_tok, s_tok, v_tok, *_rest) = POOL.decode(
            "getReserveData", raw
        )[0]
        states.append(
            ReserveState(
                asset=asset,
                index=int(rid),
                config=ReserveConfig.decode(int(config)),
                liquidity_index=int(li),
                liquidity_rate=int(lr),
                variable_borrow_index=int(vbi),
                variable_borrow_rate=int(vbr),
                last_update=int(last),
                a_token=str(to_checksum_address(a_tok)),
                stable_debt_token=str(to_checksum_address(s_tok)),
                variable_debt_token=str(to_checksum_address(v_tok)),
                new_compounding=rules.new_compounding,
                grace_until=0
                if grace is None
                else int(POOL_V36.decode("getLiquidationGracePeriod", grace)[0]),
                deficit=0
                if deficit is None
                else int(POOL_V36.decode("getReserveDeficit", deficit)[0]),
                cash=cash.get(asset),
            )
        )
    return states


async def with_cash(
    client: ChainClient, states: Sequence[ReserveState], block: int
) -> list[ReserveState]:
    """``states`` with each reserve's cash at ``block`` (one batch; raises on any failure)."""
    calls = [eth_call(r.asset, ERC20.encode("balanceOf", r.a_token), block) for r in states]
    raws = [ok(r) for r in await run_calls(client, calls, len(calls) or 1)]
    return [
        dataclasses.replace(r, cash=int(ERC20.decode("balanceOf", raw)[0]))
        for r, raw in zip(states, raws, strict=True)
    ]


async def read_emode_categories(
    client: ChainClient, market: Market, ids: Sequence[int], block: int
) -> dict[int, EModeCategory]:
    """Each eMode category's terms at ``block`` (with its bitmaps on 3.2+ pools)."""
    if market.rules.emode_bitmaps:
        return await _read_emode_bitmaps(client, market, ids, block)
    calls = [eth_call(market.pool, POOL.encode("getEModeCategoryData", i), block) for i in ids]
    out: dict[int, EModeCategory] = {}
    for cid, raw in zip(ids, await run_calls(client, calls, len(calls) or 1), strict=True):
        ((ltv, lt, bonus, source, _label),) = POOL.decode("getEModeCategoryData", ok(raw))
        price_source = None if int(source, 16) == 0 else str(to_checksum_address(source))
        out[cid] = EModeCategory(cid, int(ltv), int(lt), int(bonus), price_source)
    return out


async def _read_emode_bitmaps(
    client: ChainClient, market: Market, ids: Sequence[int], block: int
) -> dict[int, EModeCategory]:
    """3.2+: collateral config and the collateral, borrowable (and 3.6 ltvzero) bitmaps."""
    getters = ["getEModeCategoryCollateralConfig", "getEModeCategoryCollateralBitmap"]
    getters.append("getEModeCategoryBorrowableBitmap")
    if market.rules.ltvzero_bitmap:
        getters.append("getEModeCategoryLtvzeroBitmap")
    calls = [eth_call(market.pool, POOL_V36.encode(fn, i), block) for i in ids for fn in getters]
    results = [ok(r) for r in await run_calls(client, calls, len(calls) or 1)]
    out: dict[int, EModeCategory] = {}
    width = len(getters)
    for k, cid in enumerate(ids):
        raws = results[k * width : (k + 1) * width]
        ((ltv, lt, bonus),) = POOL_V36.decode(getters[0], raws[0])
        (collateral,) = POOL_V36.decode(getters[1], raws[1])
        (borrowable,) = POOL_V36.decode(getters[2], raws[2])
        ltvzero = int(POOL_V36.decode(getters[3], raws[3])[0]) if width > 3 else 0
        out[cid] = EModeCategory(
            cid, int(ltv), int(lt), int(bonus), None, int(collateral), int(borrowable), ltvzero
        )
    return out


async def read_prices(
    client: ChainClient, market: Market, assets: Sequence[str], block: int
) -> dict[str, int]:
    """The market oracle's price of each asset at ``block`` (one call)."""
    raw = await client.call(market.oracle, ORACLE.encode("getAssetsPrices", list(assets)), block)
    (prices,) = ORACLE.decode("getAssetsPrices", raw)
    return {a: int(p) for a, p in zip(assets, prices, strict=True)}


@dataclass(frozen=True)
class PriceRead:
    """The oracle's prices at a block, the assets it cannot price, and the sentinel's answer."""

    prices: dict[str, int]
    unpriced: set[str]
    liquidation_allowed: bool | None = None  # None: no sentinel was asked


async def read_prices_checked(
    client: ChainClient,
    market: Market,
    assets: Sequence[str],
    block: int,
    sentinel: str | None = None,
) -> PriceRead:
    """Prices at ``block``, the assets the oracle cannot price, and ``sentinel``'s answer.

    Unpriced assets are those whose source answers zero or less with no fallback: the oracle
    reverts or returns zero. One call while every price is fine; if the oracle reverts, one
    call per asset, so that a broken feed blocks only its own asset. A ``sentinel``
    (PriceOracleSentinel) is asked ``isLiquidationAllowed()`` in the same batch as the prices.
    """
    allowed: bool | None = None
    try:
        if sentinel is None:
            prices = await read_prices(client, market, assets, block)
        else:
            price_call = eth_call(
                market.oracle, ORACLE.encode("getAssetsPrices", list(assets)), block
            )
            raw, flag = await run_calls(client, [price_call, allowed_call(sentinel, block)], 2)
            allowed = decode_allowed(flag)
            (values,) = ORACLE.decode("getAssetsPrices", ok(raw))
            prices = {a: int(p) for a, p in zip(assets, values, strict=True)}
    except ContractRevertError:
        calls = [eth_call(market.oracle, ORACLE.encode("getAssetPrice", a), block) for a in assets]
        prices = {}
        for asset, raw in zip(assets, await run_calls(client, calls, len(calls)), strict=True):
            if isinstance(raw, ContractRevertError):
                prices[asset] = 0
            elif isinstance(raw, RpcError):
                raise raw from None
            else:
                prices[asset] = int(ORACLE.decode("getAssetPrice", raw)[0])
    return PriceRead(prices, {a for a, p in prices.items() if p <= 0}, allowed)


async def read_account_states(
    client: ChainClient,
    market: Market,
    reserves: Sequence[ReserveState],
    accounts: Sequence[str],
    *,
    block: int,
    batch_size: int,
) -> tuple[dict[str, AccountState], dict[str, RpcError]]:
    """Every account's bitmap, eMode and scaled balances at ``block``: (states, failures)."""
    failed: dict[str, RpcError] = {}
    states = await _read_configs(client, market, accounts, block, batch_size, failed)
    with_stable = market.rules.stable_debt
    stable = await _read_balances(client, reserves, states, block, batch_size, failed, with_stable)
    await _read_stable_terms(client, reserves, states, stable, block, batch_size, failed)
    for a in failed:
        states.pop(a, None)
    return states, failed


async def _read_configs(
    client: ChainClient,
    market: Market,
    accounts: Sequence[str],
    block: int,
    batch_size: int,
    failed: dict[str, RpcError],
) -> dict[str, AccountState]:
    """Round 1: which reserves each account uses, and its eMode."""
    calls: list[Call] = []
    for a in accounts:
        calls.append(eth_call(market.pool, POOL.encode("getUserConfiguration", a), block))
        calls.append(eth_call(market.pool, POOL.encode("getUserEMode", a), block))
    results = await run_calls(client, calls, batch_size)
    states: dict[str, AccountState] = {}
    for k, a in enumerate(accounts):
        conf_raw, emode_raw = results[2 * k], results[2 * k + 1]
        if isinstance(conf_raw, RpcError):
            failed[a] = conf_raw
        elif isinstance(emode_raw, RpcError):
            failed[a] = emode_raw
        else:
            ((config,),) = POOL.decode("getUserConfiguration", conf_raw)
            (emode,) = POOL.decode("getUserEMode", emode_raw)
            states[a] = AccountState(a, int(config), int(emode), block=block)
    return states


def _balance_calls(
    reserves: Sequence[ReserveState],
    states: dict[str, AccountState],
    block: int,
    with_stable: bool,
) -> tuple[list[tuple[str, str, int]], list[Call]]:
    """The reads of round 2: (account, kind, reserve index) and the call for each."""
    wanted: list[tuple[str, str, int]] = []
    calls: list[Call] = []
    for a, state in states.items():
        for r in reserves:
            if is_using_as_collateral(state.user_config, r.index):
                wanted.append((a, "collateral", r.index))
                calls.append(eth_call(r.a_token, ATOKEN.encode("scaledBalanceOf", a), block))
            if not is_borrowing(state.user_config, r.index):
                continue
            wanted.append((a, "variable", r.index))
            calls.append(
                eth_call(r.variable_debt_token, VARIABLE_DEBT.encode("scaledBalanceOf", a), block)
            )
            if with_stable:
                wanted.append((a, "stable", r.index))
                calls.append(
                    eth_call(
                        r.stable_debt_token, STABLE_DEBT.encode("principalBalanceOf", a), block
                    )
                )
    return wanted, calls


async def _read_balances(
    client: ChainClient,
    reserves: Sequence[ReserveState],
    states: dict[str, AccountState],
    block: int,
    batch_size: int,
    failed: dict[str, RpcError],
    with_stable: bool = True,
) -> list[tuple[str, int, int]]:
    """Round 2: scaled balances of the reserves in use; returns stable principals to complete.

    ``with_stable``: the pool has stable debt (gone in 3.2: its token address is then zero).
    """
    wanted, calls = _balance_calls(reserves, states, block, with_stable)
    stable: list[tuple[str, int, int]] = []
    for (a, kind, i), raw in zip(wanted, await run_calls(client, calls, batch_size), strict=True):
        if isinstance(raw, RpcError):
            failed[a] = raw
            continue
        value = int(ATOKEN.decode("scaledBalanceOf", raw)[0])
        if kind == "collateral":
            states[a].scaled_collateral[i] = value
        elif kind == "variable":
            states[a].scaled_variable_debt[i] = value
        elif value != 0:
            stable.append((a, i, value))
    return stable


async def _read_stable_terms(
    client: ChainClient,
    reserves: Sequence[ReserveState],
    states: dict[str, AccountState],
    stable: list[tuple[str, int, int]],
    block: int,
    batch_size: int,
    failed: dict[str, RpcError],
) -> None:
    """Round 3: rate and timestamp of stable debts (rare: most markets disable them)."""
    tokens = {r.index: r.stable_debt_token for r in reserves}
    calls: list[Call] = []
    for a, i, _ in stable:
        calls.append(eth_call(tokens[i], STABLE_DEBT.encode("getUserStableRate", a), block))
        calls.append(eth_call(tokens[i], STABLE_DEBT.encode("getUserLastUpdated", a), block))
    results = await run_calls(client, calls, batch_size)
    for k, (a, i, principal) in enumerate(stable):
        rate_raw, ts_raw = results[2 * k], results[2 * k + 1]
        if isinstance(rate_raw, RpcError):
            failed[a] = rate_raw
        elif isinstance(ts_raw, RpcError):
            failed[a] = ts_raw
        else:
            (rate,) = STABLE_DEBT.decode("getUserStableRate", rate_raw)
            (ts,) = STABLE_DEBT.decode("getUserLastUpdated", ts_raw)
            states[a].stable_debt[i] = StableDebt(principal, int(rate), int(ts))


__all__ = [
    "read_account_states",
    "read_emode_categories",
    "read_prices",
    "read_prices_checked",
    "read_reserve_list",
    "read_reserve_states",
    "with_cash",
]
