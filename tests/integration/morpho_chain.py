"""Test helpers for the Morpho devnet: raw transactions whose status is returned, not raised.

The exactness tests need to know whether Morpho reverted (to compare with a prediction), so
these send through Anvil's impersonation and report the receipt's status.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from keeper.chain.types import Log
from keeper.devnet.artifacts import npm_artifact
from keeper.devnet.deployer import codec_of
from keeper.devnet.morpho_market import morpho_codec
from keeper.protocols.morpho_blue import events as ev
from keeper.protocols.morpho_blue.reads import MORPHO
from keeper.protocols.morpho_blue.types import MarketTotals, Position

if TYPE_CHECKING:
    from keeper.chain.client import ChainClient
    from keeper.protocols.morpho_blue.types import MarketParams

MC = morpho_codec()
ERC20 = codec_of(npm_artifact("MintableERC20"))
GAS = 3_000_000


@dataclass(frozen=True)
class Sent:
    """A mined transaction: did it succeed, its block and its decoded Morpho events."""

    ok: bool
    block: int
    events: list[ev.MorphoEvent]


async def send(client: ChainClient, sender: str, to: str, data: str) -> Sent:
    """Send from an impersonated account on an automining Anvil; the status is returned."""
    tx: dict[str, Any] = {"from": sender, "to": to, "data": data, "gas": hex(GAS)}
    tx_hash = await client.request("eth_sendTransaction", [tx], retry=False)
    receipt = await client.wait_for_receipt(tx_hash, timeout_s=60, poll_s=0.01)
    if receipt is None:
        raise AssertionError(f"no receipt for {tx_hash}")
    decoded = [ev.decode(Log.from_rpc(r)) for r in receipt["logs"]]
    return Sent(
        int(receipt["status"], 16) == 1,
        int(receipt["blockNumber"], 16),
        [e for e in decoded if e is not None],
    )


async def call_morpho(client: ChainClient, morpho: str, fn: str, *args: Any) -> tuple[Any, ...]:
    """A view of Morpho at the latest block."""
    return MORPHO.decode(fn, await client.call(morpho, MORPHO.encode(fn, *args)))


async def chain_totals(client: ChainClient, morpho: str, market_id: str) -> MarketTotals:
    """``market(id)`` at the latest block."""
    values = await call_morpho(client, morpho, "market", bytes.fromhex(market_id[2:]))
    return MarketTotals(*(int(v) for v in values))


async def chain_position(client: ChainClient, morpho: str, market_id: str, who: str) -> Position:
    """``position(id, account)`` at the latest block."""
    values = await call_morpho(client, morpho, "position", bytes.fromhex(market_id[2:]), who)
    return Position(*(int(v) for v in values))


async def next_timestamp(client: ChainClient, seconds: int) -> int:
    """Make the next block ``seconds`` after the latest one; returns its timestamp."""
    latest = int((await client.get_block("latest"))["timestamp"], 16)
    await client.request("evm_setNextBlockTimestamp", [latest + seconds])
    return latest + seconds


async def accrue_on_chain(
    client: ChainClient, morpho: str, sender: str, params: MarketParams
) -> Sent:
    """``accrueInterest(marketParams)``."""
    return await send(client, sender, morpho, MC.encode("accrueInterest", params.as_tuple()))


async def fund(
    client: ChainClient, admin: str, token: str, to: str, amount: int, spender: str
) -> None:
    """Mint a devnet token to ``to`` and approve ``spender`` (Morpho) for all of it and more."""
    await send(client, admin, token, ERC20.encode("mint(address,uint256)", to, amount))
    await send(client, to, token, ERC20.encode("approve", spender, 2**256 - 1))
