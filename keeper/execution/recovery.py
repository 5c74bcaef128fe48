"""Open transactions: reconciled at start, looked at each block, re-sent or replaced.

A reorg that takes their blocks away opens them again. Part of the sender (the one nonce
writer): nothing here signs or takes a nonce.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import structlog

from keeper.errors import NonceTooLowError, TransactionError, UnderpricedError
from keeper.execution.fees import Fees
from keeper.execution.transactions import Sent, Settled, route_of
from keeper.submission.events import ChannelResult
from keeper.submission.public import PublicMempool

if TYPE_CHECKING:
    from keeper.execution.journal import Entry, Status
    from keeper.execution.sender import TxSender

log = structlog.get_logger(__name__)
# A node that has not seen our last mined transaction yet is asked again this often.
CATCH_UP_TRIES, CATCH_UP_S = 10, 0.5
# How a private attempt ends for good: a bundle lost its race; a back-run's also when the
# transaction it backs never landed (stale) or landed without it (lost).
_LOST = frozenset({ChannelResult.LOST})
_LOST_BACKRUN = frozenset({ChannelResult.LOST, ChannelResult.STALE})


class Recovery:
    """What the sender does with transactions it did not see to their end itself."""

    def __init__(self, sender: TxSender) -> None:
        self.sender = sender
        self.journal = sender.journal
        self.me = sender.signer.address
        self._watched: dict[int, int] = {}  # open nonce -> block we last touched it
        self._fill_tried: dict[int, int] = {}  # lost nonce -> head of the last filler attempt

    async def reconcile(self, *, timeout_s: float = 120.0) -> list[Settled]:
        """Settle what the journal holds open (after a crash), then align the nonce counter.

        Open nonces whose attempts are still unknown to the chain are re-broadcast with the exact
        bytes already signed (the same transaction, so never a double send) and tracked to an end.
        """
        settled: list[Settled] = []
        by_nonce: dict[int, list[Entry]] = {}
        for entry in self.journal.open_entries(self.me):
            by_nonce.setdefault(entry.nonce, []).append(entry)
        for nonce, entries in sorted(by_nonce.items()):
            sent = self.from_journal(nonce)
            last_hash = sent.hashes[-1]
            expired = await self.expired_backrun(sent)
            if expired is not None:
                settled.append(expired)
                continue
            receipt_hash = await self._mined_attempt(sent)
            if receipt_hash is None and await self.sender.nonce_used(nonce) is False:
                for entry in entries:
                    if entry.tx_hash == last_hash:
                        await self._resend(entry)
            sent.sent_at_block = await self.sender.client.block_number()
            settled.append(await self.sender.settle(sent, timeout_s=timeout_s))
        await self._align_nonce()
        if settled:
            log.info(
                "journal_reconciled", nonces=len(settled), outcomes=[s.status for s in settled]
            )
        return settled

    async def _align_nonce(self) -> None:
        """The counter from the chain, never below the journal's open nonces.

        Nor at a nonce the journal saw mined: a node behind the former writer's (an HA takeover
        on another node) is given a few seconds to see it before its count is taken.
        """
        highest = self.journal.highest_nonce(self.me)
        mined = highest is not None and any(
            e.status in ("mined", "reverted") for e in self.journal.at_nonce(self.me, highest)
        )
        client = self.sender.client
        for _ in range(CATCH_UP_TRIES if mined else 0):
            if highest is None or await client.get_transaction_count(self.me, "pending") > highest:
                break
            await asyncio.sleep(CATCH_UP_S)
        await self.sender.resync_nonce()
        if highest is not None and not self.journal.open_entries(self.me):
            pending = await client.get_transaction_count(self.me, "pending")
            if pending <= highest:
                log.warning("journal_ahead_of_node", journal_nonce=highest, node_nonce=pending)

    async def _resend(self, entry: Entry) -> None:
        """The journal's bytes again; a refusal (priced out since) is left to the settle.

        Settling replaces a priced-out attempt at its nonce: never skipped, never a gap.
        """
        try:
            await self.sender.broadcast_raw(
                entry.raw, entry.tx_hash, entry.nonce, route=route_of(entry.meta)
            )
        except (UnderpricedError, NonceTooLowError) as exc:
            log.info("rebroadcast_refused", tx_hash=entry.tx_hash, error=str(exc))
        except TransactionError as exc:  # a back-run whose last block passed: settled as lost
            log.info("rebroadcast_refused", tx_hash=entry.tx_hash, error=str(exc))

    def from_journal(self, nonce: int) -> Sent:
        """A nonce in flight as the journal holds it (attempts the node refused left out)."""
        every = [
            e for e in self.journal.at_nonce(self.me, nonce) if e.status != "dropped"
        ] or self.journal.at_nonce(self.me, nonce)
        last = every[-1]
        return Sent(
            nonce,
            last.to,
            last.data,
            last.gas_limit,
            last.purpose,
            last.meta,
            [e.tx_hash for e in every],
            [Fees(e.max_fee, e.tip) for e in every],
            value=int(str(last.meta.get("value", 0))),
        )

    async def _mined_attempt(self, sent: Sent) -> str | None:
        """The hash of the attempt at ``sent``'s nonce that has a receipt, if any."""
        for tx_hash in reversed(sent.hashes):
            if await self.sender.client.get_receipt(tx_hash) is not None:
                return tx_hash
        return None

    async def check_open(self) -> list[Settled]:
        """One look, each block, at transactions left open (a settle that timed out).

        Mined or dropped ones are settled in the journal; one still pending for
        ``stuck_blocks`` blocks since we last touched it is replaced with higher fees.
        """
        out: list[Settled] = []
        nonces = sorted({e.nonce for e in self.journal.open_entries(self.me)})
        if not nonces:
            return out  # nothing open: no request (most blocks)
        head = await self.sender.client.block_number()
        for nonce in nonces:
            sent = self.from_journal(nonce)
            if not sent.hashes:
                continue
            outcome = await self.sender.look(sent)
            if outcome is None:
                outcome = await self.expired_backrun(sent)
            if isinstance(outcome, Settled):
                out.append(outcome)
                self._watched.pop(nonce, None)
                continue
            since = self._watched.setdefault(nonce, head)
            if head - since >= self.sender.stuck_blocks and await self.sender.replace(sent):
                self._watched[nonce] = head
            else:
                await self.rebroadcast_if_unknown(sent)
        return out

    async def on_reorg(self, ancestor: int) -> None:
        """Blocks above ``ancestor`` were replaced: our transactions mined there are not.

        One the node still holds (back in its pool) is open again and tracked as before; one it
        no longer knows is dropped, so its account can be planned afresh. The nonce counter is
        re-read either way: the chain's count went back.
        """
        for entry in self.journal.settled_after(self.me, ancestor):
            if await self.sender.client.get_receipt(entry.tx_hash) is not None:
                continue  # mined again, in the new branch
            known = await self.sender.client.request("eth_getTransactionByHash", [entry.tx_hash])
            status: Status = "broadcast" if known is not None else "dropped"
            self.journal.mark(entry.tx_hash, status, note=f"reorged out above block {ancestor}")
            log.warning(
                "transaction_reorged_out",
                tx_hash=entry.tx_hash,
                nonce=entry.nonce,
                purpose=entry.purpose,
                now=status,
            )
        await self.sender.resync_nonce()

    async def expired_backrun(self, sent: Sent) -> Settled | None:
        """Drop a back-run whose last block has passed unmined; its Settled end, else None.

        After a restart, or a settle that timed out: no builder holds it any more, and it never
        went anywhere else. Its nonce goes to the next transaction, or, when later ones of ours
        are open and wait for it, to a self-transfer.
        """
        route = route_of(sent.meta)
        if route is None or await self.sender.client.block_number() <= route.max_block:
            return None
        if await self._mined_attempt(sent) is not None:
            return None  # mined after all: the look settles it
        why = f"a back-run past its last block ({route.max_block}), never included"
        later = any(e.nonce > sent.nonce for e in self.journal.open_entries(self.me))
        filler = await self._fill(sent) if later else None
        if later and filler is None:
            return None  # still open: the next look tries the filler again
        for tx_hash in sent.hashes:
            self.journal.mark(tx_hash, "dropped", note=why)
        if not later:
            await self.sender.resync_nonce()
        log.info("backrun_expired", nonce=sent.nonce, tx_hash=sent.hashes[-1], filler=filler)
        return Settled("dropped", None, None, len(sent.hashes) - 1, why, sent.purpose, sent.meta)

    async def give_back_if_lost(self, sent: Sent) -> str | None:
        """Free a privately lost nonce; why ``sent`` is dropped when it was (None: it was not).

        Only when private channels alone carried the newest attempt and each judged it lost:
        a bundle is for one block at a time, so once every channel found that its block passed
        without it and that it would now revert (someone else took the opportunity), no builder
        holds it for a later block and these bytes can never use the nonce. A back-run (which
        only its channel ever carried) is lost too once the transaction it backs landed without
        it or never landed by its last block. Nothing in a public pool holds the nonce either:
        the next transaction takes it when it is the newest one handed out; otherwise the
        later ones wait for it, and a self-transfer at the nonce (21,000 gas) frees them.
        """
        routed = route_of(sent.meta) is not None
        if not routed and any(isinstance(c, PublicMempool) for c in self.sender.channels):
            return None  # a pool may still hold the bytes and mine them later
        ends = _LOST_BACKRUN if routed else _LOST
        records = self.journal.channels_of(sent.hashes[-1])
        if not records or any(r.last_result not in ends for r in records):
            return None
        why = "its back-run was not included" if routed else "lost its race on private channels"
        async with self.sender.nonces.lock:
            if self.sender.nonces.give_back(sent.nonce):
                log.info("nonce_given_back", nonce=sent.nonce, tx_hash=sent.hashes[-1], why=why)
                return f"{why}, never included; its nonce was given back"
        filler = await self._fill(sent)
        if filler is None:
            return None
        log.info("nonce_filled", nonce=sent.nonce, tx_hash=sent.hashes[-1], filler=filler, why=why)
        return f"{why}, never included; a self-transfer ({filler}) uses its nonce"

    async def _fill(self, sent: Sent) -> str | None:
        """A self-transfer at ``sent``'s nonce (later ones of ours wait for it); its hash.

        None when it was refused, or already tried at this head: the next head tries again.
        """
        head = await self.sender.client.block_number()
        if self._fill_tried.get(sent.nonce) == head:
            return None
        self._fill_tried[sent.nonce] = head
        async with self.sender.nonces.lock:
            try:
                filler = await self.sender.fill_nonce(sent)
            except TransactionError as exc:
                log.warning("nonce_fill_refused", nonce=sent.nonce, error=str(exc))
                return None
        self._fill_tried.pop(sent.nonce, None)
        return filler

    async def rebroadcast_if_unknown(self, sent: Sent) -> None:
        """Send the newest attempt's signed bytes again if the node does not know it.

        The same bytes are the same transaction: this can never make a second one. It recovers
        a send whose request failed before reaching the node, and a transaction the node's
        pool dropped, and (private channels only) one a channel gave up as stale.
        """
        # Without the public mempool there is no pool to ask: the bytes go to the private
        # channels again, which take up one they had given up (stale) and ignore the others.
        public = any(isinstance(c, PublicMempool) for c in self.sender.channels)
        tx_hash = sent.hashes[-1]
        if public and await self.sender.client.request("eth_getTransactionByHash", [tx_hash]):
            return
        entry = next(
            (e for e in self.journal.at_nonce(self.me, sent.nonce) if e.tx_hash == tx_hash),
            None,
        )
        if entry is None:  # pragma: no cover - every attempt is journaled before broadcast
            return
        try:
            route = route_of(sent.meta)
            await self.sender.broadcast_raw(entry.raw, tx_hash, sent.nonce, route=route)
        except TransactionError as exc:
            # Mined meanwhile (nonce too low) or priced out: the next look or replacement decides.
            log.info("rebroadcast_refused", tx_hash=tx_hash, error=str(exc))
            return
        # Logged once the node has it again: whoever reads the log may act on it at once.
        if public:
            log.warning(
                "rebroadcast", tx_hash=tx_hash, nonce=sent.nonce, reason="unknown to the node"
            )
