"""What a plan may use that is not market state, read off the reaction path: our tokens.

Our balances and allowances to the Pool are not the health engine's state, so they are read
from the node, but after a block's plans ran rather than on the way to the next broadcast: when
nothing was read yet for the holder, and after every cycle that planned (our transactions moved
our balances, or a skipped plan may have been short of them). A block without plans reads
nothing. (The reserves' cash is market state: the tracker reads it with each reserve's state,
at the block, whenever an operation moved it.)

Stale figures cannot make a bad transaction: the simulation before signing runs the exact
call, and a plan asking more tokens than we hold reverts there and is not sent; figures that
understate only make a plan smaller (or skipped) until the next reading.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from keeper.protocols.aave_v3.reads import Available, read_available

if TYPE_CHECKING:
    from collections.abc import Mapping

    from keeper.chain.client import ChainClient
    from keeper.protocols.aave_v3.market import Market
    from keeper.protocols.aave_v3.state import ReserveState

    Reserves = Mapping[str, ReserveState]


class AvailableCache:
    """The last reading of :class:`Available` for one holder, and when to read it again."""

    def __init__(self, client: ChainClient, market: Market) -> None:
        self.client = client
        self.market = market
        self.available: Available | None = None
        self.holder: str | None = None
        self.used = False  # a plan used the reading since it was taken
        self.block = -1  # the tracked block when it was taken (the node's latest is at least it)
        self.reads = 0  # readings taken (tests, logs)

    def get(self, holder: str | None) -> Available | None:
        """The reading for ``holder`` (None: none yet); marks it used by a plan."""
        if self.available is None or holder != self.holder:
            return None
        self.used = True
        return self.available

    async def read_now(self, reserves: Reserves, holder: str | None, block: int) -> Available:
        """Read everything now (the first plan of a holder: nothing was read before)."""
        available = await self._read_all(reserves, holder, block)
        self.used = True
        return available

    def allowance(self, token: str, block: int) -> int | None:
        """Our allowance of ``token`` to the Pool, if read at ``block`` (None: not read then).

        The direct path trusts a reading only against our transactions mined after its block
        (see ``InventoryExecutor``): a reading of an earlier block is not given out.
        """
        known = self.available
        if known is None or known.allowances is None or self.block != block:
            return None
        return known.allowances.get(token)

    async def refresh(self, reserves: Reserves, holder: str | None, block: int) -> None:
        """After acting at ``block``: read again if a plan used the reading (or none yet)."""
        known = self.available
        if (
            known is None
            or holder != self.holder
            or self.used
            or set(reserves) != set(known.liquidity)
        ):
            await self._read_all(reserves, holder, block)

    async def _read_all(self, reserves: Reserves, holder: str | None, block: int) -> Available:
        a_tokens = {a: r.a_token for a, r in reserves.items()}
        available = await read_available(self.client, self.market, list(reserves), a_tokens, holder)
        self.available, self.holder, self.used = available, holder, False
        self.block = block
        self.reads += 1
        return available
