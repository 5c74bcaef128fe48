"""Back-run bundles through MEV-Share: ``mev_sendBundle`` [the private update, our transaction].

The bundle names the transaction it backs by its hash (we never have its bytes: it is
private) and carries ours right after it, ``canRevert: false``: the builder includes ours only
behind that transaction and only if it succeeds there, so a back-run that misses costs nothing.
It is valid from the next block to the route's ``maxBlock``, sent once to every relay endpoint
(signed with the searcher identity). Followed block by block to its end: included (its
receipt); the update landed without it (lost: a better-paying back-run won); the update did
not land by ``maxBlock`` (stale: the standard feed path takes over); or its nonce used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from keeper.chain.rpc_errors import SendRefusal
from keeper.submission.channel import ChannelRefusedError, Delivery
from keeper.submission.events import ChannelResult
from keeper.submission.following import Followed, Follower
from keeper.submission.relay_rpc import EndpointPool

if TYPE_CHECKING:
    from collections.abc import Sequence

    from keeper.chain.client import ChainClient
    from keeper.submission.channel import BackrunRoute
    from keeper.submission.endpoints import BuilderEndpoint
    from keeper.submission.events import ChannelListener
    from keeper.submission.signing import SearcherIdentity


def backrun_bundle(raw_hex: str, route: BackrunRoute, block: int) -> dict[str, Any]:
    """The ``mev_sendBundle`` parameter object of one back-run (MEV-Share's v0.1 shape)."""
    return {
        "version": "v0.1",
        "inclusion": {"block": hex(block), "maxBlock": hex(max(block, route.max_block))},
        "body": [{"hash": route.target_hash}, {"tx": raw_hex, "canRevert": False}],
        "validity": {"refund": [], "refundConfig": []},
    }


class MevShareChannel(Follower):
    """Back-runs to MEV-Share relays; one failing relay never blocks the others."""

    def __init__(
        self,
        client: ChainClient,
        endpoints: Sequence[BuilderEndpoint],
        identity: SearcherIdentity,
        *,
        listener: ChannelListener | None = None,
        poll_s: float = 0.25,
        timeout_s: float = 3.0,
        name: str = "mev_share",
    ) -> None:
        super().__init__(client, listener, poll_s=poll_s)
        self.name = name
        self.pool = EndpointPool(endpoints, identity, timeout_s=timeout_s)
        self._routes: dict[str, BackrunRoute] = {}

    async def submit_backrun(self, raw: bytes, tx_hash: str, route: BackrunRoute) -> Delivery:
        """Send ``raw`` as the back-run of ``route.target_hash`` and follow it (the module)."""
        if tx_hash in self.followed:
            return Delivery.KNOWN
        sender, nonce = self.signer_of(raw)
        head = await self.client.block_number()
        if route.max_block <= head:
            raise ChannelRefusedError(
                self.name, SendRefusal.OTHER, f"its last block {route.max_block} has passed"
            )
        item = Followed(tx_hash, raw, sender, nonce, head, head + 1, "", self.now())
        bundle = backrun_bundle("0x" + raw.hex(), route, head + 1)
        out = await self.pool.fan_out(lambda _e: ("mev_sendBundle", [bundle]))
        if out.all_refused:
            raise self.refused_everywhere(item, out, "every relay refused the back-run")
        self._routes[tx_hash] = route
        detail = f"behind {route.target_hash} until block {route.max_block}"
        return self.accepted(item, out, block=item.target, detail=detail)

    async def close(self) -> None:
        """Stop the watch and close the HTTP session."""
        await super().close()
        await self.pool.close()

    async def step(self, item: Followed, head: int) -> ChannelResult | None:
        """A block passed without it: the update landed without us, or it did not land yet."""
        route = self._routes.get(item.tx_hash)
        if route is None:  # pragma: no cover - every followed item has its route
            return ChannelResult.STALE
        if await self.client.receipt(route.target_hash) is not None:
            detail = "the update landed without it (a better back-run won)"
            await self.drop(item, ChannelResult.LOST, block=head, detail=detail)
            return None
        if head >= route.max_block:
            return ChannelResult.STALE  # the update never came: the standard path takes over
        item.target = head + 1
        return None

    async def finish(self, item: Followed, result: ChannelResult) -> None:
        """Forget its route."""
        del result
        self._routes.pop(item.tx_hash, None)
