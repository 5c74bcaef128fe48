"""The competition watch: rival liquidations, in the public mempool, of accounts ours are after.

A priority-gas auction. While at least one liquidation of ours is in flight, the node's new
pending transactions are read (over HTTP: ``eth_newPendingTransactionFilter`` then
``eth_getFilterChanges``; over WebSocket: the ``newPendingTransactions`` subscription), their
bodies fetched by hash in one batch, and the market says which account each one liquidates
(``LendingMarket.rival_target``). A rival whose effective tip at the latest base fee is at or
above ours is outbid within the plan's bidding limits (``keeper.strategy.bidding``): every
pending transaction of the plan is replaced at its nonce through the sender, the approvals too,
and so are earlier plans' transactions still pending at lower nonces, each within its own plan's
limits (a block orders one sender's transactions by nonce, so a low-tip approval holds the
liquidation back). A rival above our tip ceiling is let go, and the attempt's outcome says so.

A rival that was already pending before ours was sent is not seen (the filter starts with our
first liquidation in flight); nor is one that liquidates through its own contract.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import structlog

from keeper.chain.rpc_errors import unsupported_method
from keeper.chain.types import PendingTx
from keeper.errors import RpcError, TransactionError
from keeper.strategy.bidding import outbid, rival_ahead

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from keeper.chain.client import ChainClient
    from keeper.core.market import LendingMarket
    from keeper.execution.sender import TxSender
    from keeper.execution.transactions import Sent
    from keeper.strategy.bidding import BidLimits

log = structlog.get_logger(__name__)
POLL_S = 0.05  # between two looks at the node's pool (HTTP), while something is in flight


@dataclass
class Contest:
    """One plan in flight and the rivals seen for its account."""

    account: str  # lower case
    pending: list[Sent]  # the plan's transactions not settled yet, lowest nonce first
    limits: BidLimits
    rivals: set[str] = field(default_factory=set)
    outbids: int = 0
    let_go: str | None = None

    def settled(self, sent: Sent) -> None:
        """``sent`` is mined (or ended): nothing more to replace at its nonce."""
        if sent in self.pending:
            self.pending.remove(sent)

    def note(self) -> str:
        """What the auction came to, for the attempt's outcome ("" when nobody competed)."""
        parts = [f"outbid {self.outbids} rival bid(s)"] if self.outbids else []
        if self.let_go is not None:
            parts.append(self.let_go)
        return "; ".join(parts)


class _Source:
    """New pending transaction hashes: a filter polled over HTTP, or the WebSocket stream."""

    def __init__(self, client: ChainClient, poll_s: float) -> None:
        self.client = client
        self.poll_s = poll_s
        self.filter_id: str | None = None
        self.stream: asyncio.Queue[str] | None = None

    async def open(self) -> None:
        self.stream = await self.client.pending_transactions()
        if self.stream is None:
            self.filter_id = str(await self.client.request("eth_newPendingTransactionFilter"))

    async def hashes(self) -> list[str]:
        if self.stream is not None:
            out = []
            with contextlib.suppress(TimeoutError):
                out.append(await asyncio.wait_for(self.stream.get(), self.poll_s))
            while not self.stream.empty():
                out.append(self.stream.get_nowait())
            return out
        await asyncio.sleep(self.poll_s)
        try:
            changes = await self.client.request("eth_getFilterChanges", [self.filter_id])
        except RpcError as exc:
            if "filter" not in str(exc).lower():
                raise
            # The node forgot the filter (restarted, or it expired): a new one.
            self.filter_id = str(await self.client.request("eth_newPendingTransactionFilter"))
            return []
        return [str(h) for h in changes or [] if isinstance(h, str)]

    async def close(self) -> None:
        if self.stream is not None:
            self.client.subscriptions.stop_pending(self.stream)
        elif self.filter_id is not None:
            with contextlib.suppress(RpcError):
                await self.client.request("eth_uninstallFilter", [self.filter_id], retry=False)


class RivalWatch:
    """Watches the node's pool while our liquidations are in flight; see the module."""

    def __init__(
        self,
        client: ChainClient,
        sender: TxSender,
        market: LendingMarket,
        *,
        poll_s: float = POLL_S,
    ) -> None:
        self.client = client
        self.sender = sender
        self.market = market
        self.poll_s = poll_s
        self.off = False  # the node offers no pending transactions: nothing to watch
        self._contests: list[Contest] = []
        self._task: asyncio.Task[None] | None = None
        self._starting = asyncio.Lock()

    @property
    def active(self) -> bool:
        """True while the node's pool is being watched."""
        return self._task is not None

    @contextlib.asynccontextmanager
    async def watching(
        self, account: str, pending: Sequence[Sent], limits: BidLimits
    ) -> AsyncIterator[Contest]:
        """Watch for rivals of ``account`` until the block ends; ``pending``: the plan's sends.

        The first plan in flight opens the watch before this returns (one round trip).
        """
        contest = Contest(account.lower(), list(pending), limits)
        self._contests.append(contest)
        try:
            async with self._starting:
                if self._task is None and not self.off:
                    source = await self._open()
                    if source is not None:
                        self._task = asyncio.create_task(self._run(source))
            yield contest
        finally:
            self._contests.remove(contest)

    async def close(self) -> None:
        """Stop watching (at shutdown, before the client closes): no request after this."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _open(self) -> _Source | None:
        source = _Source(self.client, self.poll_s)
        try:
            await source.open()
        except RpcError as exc:
            if unsupported_method(exc):
                self.off = True
                log.info("rival_watch_off", reason="the node offers no pending transactions")
            else:
                log.warning("rival_watch_error", error=str(exc))
            return None
        return source

    async def _run(self, source: _Source) -> None:
        try:
            while self._contests:
                try:
                    await self._look(await source.hashes())
                except RpcError as exc:
                    if unsupported_method(exc):
                        self.off = True
                        log.info("rival_watch_off", reason="the node offers no pending filter")
                        return
                    log.warning("rival_watch_error", error=str(exc))
                    await asyncio.sleep(self.poll_s)
        finally:
            # Before anything is awaited: a plan sent from now on opens a new watch.
            self._task = None
            await source.close()

    async def _look(self, hashes: list[str]) -> None:
        if not hashes or not self._contests:
            return
        ours = self.sender.signer.address.lower()
        answers = await self.client.batch([("eth_getTransactionByHash", [h]) for h in hashes])
        for raw in answers:
            if not isinstance(raw, dict):
                continue
            try:
                tx = PendingTx.from_rpc(raw)
            except RpcError:
                continue
            if tx.sender.lower() == ours or raw.get("blockNumber"):
                continue
            target = self.market.rival_target(tx)
            for contest in [c for c in self._contests if c.account == target]:
                await self._answer(contest, tx)

    def _queue(self, contest: Contest) -> list[tuple[Sent, BidLimits]]:
        """Our pending transactions up to the plan's last nonce, each with its plan's limits.

        A block takes one sender's transactions in nonce order: an earlier plan's transaction
        left at a low tip would hold this plan back, so it is raised too (within its own plan's
        limits).
        """
        top = max(s.nonce for s in contest.pending)
        queue = {
            s.nonce: (s, c.limits) for c in self._contests for s in c.pending if s.nonce <= top
        }
        return [queue[nonce] for nonce in sorted(queue)]

    async def _answer(self, contest: Contest, tx: PendingTx) -> None:
        """Outbid ``tx`` on every pending transaction up to the plan's, or let it go."""
        if not contest.pending or contest.let_go is not None:
            return
        contest.rivals.add(tx.tx_hash)
        base_fee, _ = await self.sender.fees.base_and_tip(self.client)
        rival_tip = tx.effective_tip(base_fee)
        behind = [
            (s, limits)
            for s, limits in self._queue(contest)
            if rival_ahead(s.fees[-1], rival_tip, base_fee)
        ]
        fields = {"account": contest.account, "rival_tx": tx.tx_hash, "rival_tip": rival_tip}
        if not behind:
            log.info("rival_behind", **fields)
            return
        bids = [
            (s, outbid(s.fees[-1], rival_tip, tx.max_fee, base_fee, limits)) for s, limits in behind
        ]
        ceiling = min(limits.tip_ceiling(base_fee) for _, limits in behind)
        if any(fees is None for _, fees in bids):
            contest.let_go = (
                f"let go rival {tx.tx_hash}: beating its tip of {rival_tip} wei takes more "
                f"than our ceiling of {ceiling} wei"
            )
            log.warning("rival_let_go", **fields, tip_ceiling=ceiling)
            return
        replaced = 0
        for sent, fees in bids:
            if fees is None:  # pragma: no cover - excluded above
                continue
            try:
                replaced += await self.sender.outbid(sent, fees)
            except TransactionError as exc:
                log.warning("outbid_failed", nonce=sent.nonce, error=str(exc))
        contest.outbids += 1
        tip = behind[-1][0].fees[-1].max_priority_fee_per_gas
        log.info("rival_outbid", **fields, tip=tip, replaced=replaced, tip_ceiling=ceiling)
