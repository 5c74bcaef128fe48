"""Batched reads of Morpho state at one pinned block: markets, positions, prices, IRM rates.

Calls go out as JSON-RPC batches (``batch_size`` per request). A read that fails or answers
garbage is reported per item (a market without a price is "unpriced", never priced at zero).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from keeper.chain.abi import Codec, error_string
from keeper.chain.batch import Call, eth_call, ok, run_calls
from keeper.chain.erc20 import ERC20
from keeper.core.market import AssetInfo
from keeper.errors import ContractRevertError, RpcError, TransientRpcError
from keeper.protocols.morpho_blue.types import MarketParams, MarketTotals, Position

if TYPE_CHECKING:
    from collections.abc import Sequence

    from keeper.chain.client import ChainClient

MORPHO = Codec.named("morpho_blue/IMorpho")
ORACLE = Codec.named("morpho_blue/IOracle")
IRM = Codec.named("morpho_blue/IIrm")
# A keyless address with no tokens and no approvals: Morpho's liquidate, called from it, gets
# past the health check only for a liquidatable position (then fails pulling the repayment).
PROBE = str(to_checksum_address(keccak(b"keeper morpho liquidation probe")[-20:]))
HEALTHY_POSITION = "position is healthy"  # ErrorsLib.HEALTHY_POSITION
# ErrorsLib's messages of the repayment pull, which comes after the health check.
PAST_HEALTH_CHECK = frozenset({"transferFrom reverted", "transferFrom returned false"})


def _id_bytes(market_id: str) -> bytes:
    return bytes.fromhex(market_id.removeprefix("0x"))


def _decoded(codec: Codec, fn: str, raw: bytes | RpcError) -> tuple[object, ...] | RpcError:
    if isinstance(raw, RpcError):
        return raw
    try:
        return codec.decode(fn, raw)
    except TransientRpcError as exc:
        return exc


async def read_params(
    client: ChainClient, morpho: str, ids: Sequence[str], block: int, batch_size: int
) -> dict[str, MarketParams]:
    """``idToMarketParams`` of markets whose ``CreateMarket`` the discovery did not see."""
    calls = [eth_call(morpho, MORPHO.encode("idToMarketParams", _id_bytes(i)), block) for i in ids]
    out = {}
    for market_id, raw in zip(ids, await run_calls(client, calls, batch_size), strict=True):
        loan, coll, oracle, irm, lltv = MORPHO.decode("idToMarketParams", ok(raw))
        out[market_id] = MarketParams(str(loan), str(coll), str(oracle), str(irm), int(str(lltv)))
    return out


async def read_totals(
    client: ChainClient, morpho: str, ids: Sequence[str], block: int, batch_size: int
) -> dict[str, MarketTotals]:
    """``market(id)`` of every market at ``block`` (a failed read raises: totals are needed)."""
    calls = [eth_call(morpho, MORPHO.encode("market", _id_bytes(i)), block) for i in ids]
    out = {}
    for market_id, raw in zip(ids, await run_calls(client, calls, batch_size), strict=True):
        values = MORPHO.decode("market", ok(raw))
        out[market_id] = MarketTotals(*(int(str(v)) for v in values))
    return out


async def read_positions(
    client: ChainClient,
    morpho: str,
    pairs: Sequence[tuple[str, str]],
    block: int,
    batch_size: int,
) -> dict[tuple[str, str], Position]:
    """``position(id, account)`` of every (market, account) pair at ``block``."""
    calls = [eth_call(morpho, MORPHO.encode("position", _id_bytes(m), a), block) for m, a in pairs]
    out = {}
    for pair, raw in zip(pairs, await run_calls(client, calls, batch_size), strict=True):
        supply, borrow, coll = MORPHO.decode("position", ok(raw))
        out[pair] = Position(int(str(supply)), int(str(borrow)), int(str(coll)))
    return out


async def read_fee_recipient(client: ChainClient, morpho: str, block: int) -> str:
    """``feeRecipient()`` at ``block``."""
    (recipient,) = MORPHO.decode(
        "feeRecipient", await client.call(morpho, MORPHO.encode("feeRecipient"), block)
    )
    return str(recipient)


async def read_prices_and_rates(
    client: ChainClient,
    markets: Sequence[tuple[str, MarketParams, MarketTotals]],
    block: int,
    batch_size: int,
    extra: Sequence[Call] = (),
) -> tuple[dict[str, int], dict[str, int], dict[str, RpcError], list[bytes | RpcError]]:
    """Each market's ``IOracle.price()`` and ``IIrm.borrowRateView(params, totals)`` at ``block``.

    One batch for all of them and the ``extra`` calls (the feeds behind the oracles);
    ``totals`` are the market's before accrual, which is what Morpho passes to the IRM.
    Returns (prices, rates, failures by market id, the extra calls' results); a market with
    the zero IRM gets rate 0 without a call.
    """
    calls: list[Call] = []
    for _, params, totals in markets:
        calls.append(eth_call(params.oracle, ORACLE.encode("price"), block))
        if params.has_irm:
            data = IRM.encode("borrowRateView", params.as_tuple(), totals.as_tuple())
            calls.append(eth_call(params.irm, data, block))
    raw = await run_calls(client, [*calls, *extra], batch_size)
    results = iter(raw[: len(calls)])
    prices: dict[str, int] = {}
    rates: dict[str, int] = {}
    failed: dict[str, RpcError] = {}
    for market_id, params, _ in markets:
        price = _decoded(ORACLE, "price", next(results))
        rate = _decoded(IRM, "borrowRateView", next(results)) if params.has_irm else (0,)
        if isinstance(price, RpcError):
            failed[market_id] = price
        elif isinstance(rate, RpcError):
            failed[market_id] = rate
        else:
            prices[market_id] = int(str(price[0]))
            rates[market_id] = int(str(rate[0]))
    return prices, rates, failed, raw[len(calls) :]


async def read_timestamps(
    client: ChainClient, blocks: Sequence[int], batch_size: int
) -> dict[int, int]:
    """Block number -> timestamp, in batches (a missing block raises)."""
    calls = [("eth_getBlockByNumber", [hex(b), False]) for b in blocks]
    out: dict[int, int] = {}
    for start in range(0, len(calls), batch_size):
        items = await client.batch(calls[start : start + batch_size])
        for block, item in zip(blocks[start : start + batch_size], items, strict=True):
            if isinstance(item, RpcError):
                raise item
            if not isinstance(item, dict) or "timestamp" not in item:
                raise TransientRpcError(
                    f"block {block} not available", method="eth_getBlockByNumber"
                )
            out[block] = int(str(item["timestamp"]), 16)
    return out


async def read_token(client: ChainClient, token: str) -> AssetInfo | RpcError:
    """A token's decimals and symbol at the latest block (the error when either fails)."""
    try:
        decimals = int(
            ERC20.decode("decimals", await client.call(token, ERC20.encode("decimals")))[0]
        )
        symbol = str(ERC20.decode("symbol", await client.call(token, ERC20.encode("symbol")))[0])
    except RpcError as exc:
        return exc
    return AssetInfo(token, symbol, decimals)


async def read_liquidatable(
    client: ChainClient,
    morpho: str,
    positions: Sequence[tuple[MarketParams, str]],
    block: int,
    batch_size: int,
) -> list[bool | RpcError]:
    """Morpho's own verdict per (market, borrower) at ``block``: True when liquidatable.

    ``liquidate`` (one share) is simulated from :data:`PROBE`: Morpho accrues interest and
    checks health first, so "position is healthy" means healthy, and any later failure (the
    probe cannot pay: ``transferFrom``'s messages) means it got past the check. Any other
    answer (another message, a revert without one) is that item's error: no verdict.
    """
    calls = [
        (
            "eth_call",
            [
                {
                    "from": PROBE,
                    "to": morpho,
                    "data": MORPHO.encode("liquidate", p.as_tuple(), account, 0, 1, b""),
                },
                hex(block),
            ],
        )
        for p, account in positions
    ]
    out: list[bool | RpcError] = []
    for raw in await run_calls(client, calls, batch_size):
        reason = (
            error_string(raw.data) if isinstance(raw, ContractRevertError) and raw.data else None
        )
        if reason == HEALTHY_POSITION:
            out.append(False)
        elif reason in PAST_HEALTH_CHECK:
            out.append(True)
        elif isinstance(raw, RpcError):
            out.append(raw)
        else:
            out.append(RpcError("liquidate by the probe went through", method="eth_call"))
    return out
