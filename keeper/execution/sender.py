"""Signing, broadcasting and tracking transactions: the only code that uses the key.

Every transaction is journaled before broadcast. Broadcast errors are resolved by looking up our
own hash ("already known" and "nonce too low" often mean the transaction is already in), never by
a blind resend with a new nonce. While a transaction waits, each new block is checked: once it
has waited ``stuck_blocks`` blocks, or the base fee has risen above its max fee, it is replaced at
the same nonce with both fee caps raised by at least 12.5%, up to the configured caps. Whichever
attempt is mined settles the nonce; the others are journaled as replaced.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import structlog

from keeper.chain.rpc_errors import SendRefusal
from keeper.errors import NonceTooLowError, TransactionError, UnderpricedError
from keeper.execution.fees import Fees, bumped
from keeper.execution.nonces import NonceManager
from keeper.submission.channel import ChannelRefusedError, Delivery
from keeper.submission.public import PublicMempool

if TYPE_CHECKING:
    from collections.abc import Sequence

    from keeper.chain.client import ChainClient
    from keeper.chain.types import Receipt
    from keeper.core.outcome import TxPurpose
    from keeper.execution.fees import FeePolicy
    from keeper.execution.journal import Entry, Journal, Status
    from keeper.execution.signer import Signer
    from keeper.submission.channel import SubmissionChannel

log = structlog.get_logger(__name__)
DROP_GRACE_S = 3.0
# A pending transaction the node does not know (its send failed before reaching it, or the pool
# dropped it) is re-broadcast, same signed bytes, this often.
KNOWN_CHECK_S = 0.5
SEND_ATTEMPTS = 3


@dataclass
class Sent:
    """A nonce in flight and every attempt at it (latest last)."""

    nonce: int
    to: str
    data: str
    gas_limit: int
    purpose: str
    meta: dict[str, Any]
    hashes: list[str] = field(default_factory=list)
    fees: list[Fees] = field(default_factory=list)
    sent_at_block: int = 0


@dataclass
class Settled:
    """How a nonce ended."""

    status: Literal["mined", "reverted", "dropped", "timeout"]
    tx_hash: str | None
    receipt: Receipt | None
    replacements: int = 0
    note: str = ""
    # What the settled nonce was sent for (as journaled).
    purpose: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


def _fee_ceiling(meta: dict[str, Any] | None) -> int | None:
    """The most per gas a transaction may pay (its plan's break-even price), if it has one."""
    value = (meta or {}).get("fee_ceiling")
    return int(value) if value is not None else None


class TxSender:
    """One key's transactions: sign, journal, broadcast, track, replace, settle."""

    def __init__(
        self,
        client: ChainClient,
        signer: Signer,
        journal: Journal,
        fees: FeePolicy,
        *,
        chain_id: int,
        stuck_blocks: int = 2,
        poll_s: float = 0.25,
        channels: Sequence[SubmissionChannel] | None = None,
    ) -> None:
        self.client = client
        self.signer = signer
        self.journal = journal
        self.fees = fees
        self.chain_id = chain_id
        self.stuck_blocks = stuck_blocks
        self.poll_s = poll_s
        self.nonces = NonceManager(client, signer.address)
        # Where signed bytes go (the public mempool unless configured otherwise).
        self.channels: list[SubmissionChannel] = list(channels or [PublicMempool(client)])
        self._watched: dict[int, int] = {}  # open nonce -> block we last touched it

    # -- start-up ------------------------------------------------------------------------------

    async def reconcile(self, *, timeout_s: float = 120.0) -> list[Settled]:
        """Settle what the journal holds open (after a crash), then align the nonce counter.

        Open nonces whose attempts are still unknown to the chain are re-broadcast with the exact
        bytes already signed (the same transaction, so never a double send) and tracked to an end.
        """
        settled: list[Settled] = []
        by_nonce: dict[int, list[Entry]] = {}
        for entry in self.journal.open_entries(self.signer.address):
            by_nonce.setdefault(entry.nonce, []).append(entry)
        for nonce, entries in sorted(by_nonce.items()):
            sent = self._from_journal(nonce)
            last_hash = sent.hashes[-1]
            receipt_hash = await self._find_receipt(sent)
            if receipt_hash is None and await self._nonce_used(nonce) is False:
                for entry in entries:
                    if entry.tx_hash == last_hash:
                        await self._broadcast_raw(entry.raw, entry.tx_hash, nonce)
            sent.sent_at_block = await self.client.block_number()
            settled.append(await self.settle(sent, timeout_s=timeout_s))
        await self._resync_nonce()
        highest = self.journal.highest_nonce(self.signer.address)
        if highest is not None and not self.journal.open_entries(self.signer.address):
            pending = await self.client.get_transaction_count(self.signer.address, "pending")
            if pending <= highest:
                log.warning("journal_ahead_of_node", journal_nonce=highest, node_nonce=pending)
        if settled:
            log.info(
                "journal_reconciled", nonces=len(settled), outcomes=[s.status for s in settled]
            )
        return settled

    def _from_journal(self, nonce: int) -> Sent:
        """A nonce in flight as the journal holds it (attempts the node refused left out)."""
        every = [
            e for e in self.journal.at_nonce(self.signer.address, nonce) if e.status != "dropped"
        ] or self.journal.at_nonce(self.signer.address, nonce)
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
        )

    async def check_open(self) -> list[Settled]:
        """One look, each block, at transactions left open (a settle that timed out).

        Mined or dropped ones are settled in the journal; one still pending for
        ``stuck_blocks`` blocks since we last touched it is replaced with higher fees.
        """
        out: list[Settled] = []
        head = await self.client.block_number()
        nonces = sorted({e.nonce for e in self.journal.open_entries(self.signer.address)})
        for nonce in nonces:
            sent = self._from_journal(nonce)
            if not sent.hashes:
                continue
            outcome = await self._look(sent)
            if isinstance(outcome, Settled):
                out.append(outcome)
                self._watched.pop(nonce, None)
                continue
            since = self._watched.setdefault(nonce, head)
            if head - since >= self.stuck_blocks and await self._replace(sent):
                self._watched[nonce] = head
            else:
                await self._rebroadcast_if_unknown(sent)
        return out

    # -- sending -------------------------------------------------------------------------------

    async def send(
        self,
        to: str,
        data: str,
        gas_limit: int,
        *,
        purpose: TxPurpose,
        meta: dict[str, Any] | None = None,
        tip_cap: Fees | None = None,
    ) -> Sent:
        """Sign, journal and broadcast a new transaction at the next nonce.

        A refusal that a fresh nonce or fresh fees cure ("nonce too low": our counter was
        behind, e.g. another sender used the key; "underpriced", "max fee per gas less than
        block base fee") is tried again with the node's pending nonce and a new fee quote. The
        refused attempt never entered the node's pool, so this cannot make a second transaction.
        """
        for attempt in range(1, SEND_ATTEMPTS + 1):
            # A refused attempt may have been priced under the base fee: quote again.
            fees = await self.fees.quote(self.client, fresh=attempt > 1)
            ceiling = _fee_ceiling(meta)
            if ceiling is not None:
                fees = Fees(
                    min(fees.max_fee_per_gas, ceiling), min(fees.max_priority_fee_per_gas, ceiling)
                )
            if tip_cap is not None:
                # Behind another transaction: lower fees order ours after it in a block (block
                # builders rank by tip; Anvil ranks by max fee).
                fees = Fees(
                    min(fees.max_fee_per_gas, tip_cap.max_fee_per_gas),
                    min(fees.max_priority_fee_per_gas, tip_cap.max_priority_fee_per_gas),
                )
            block = self.fees.pinned_block()
            if block is None:
                block = await self.client.block_number()
            async with self.nonces.lock:
                nonce = await self.nonces.take()
                sent = Sent(nonce, to, data, gas_limit, purpose, meta or {}, sent_at_block=block)
                try:
                    await self._attempt(sent, fees)
                except TransactionError as exc:
                    if (
                        not sent.hashes
                        or self.journal.at_nonce(self.signer.address, nonce)[-1].status == "dropped"
                    ):
                        self.nonces.release(nonce)
                    if attempt == SEND_ATTEMPTS or not isinstance(
                        exc, NonceTooLowError | UnderpricedError
                    ):
                        raise
                    log.warning("send_refused_retrying", nonce=nonce, error=str(exc))
                    await self._resync_nonce()
                    continue
            return sent
        raise AssertionError("unreachable")  # pragma: no cover

    async def _attempt(self, sent: Sent, fees: Fees) -> str:
        tx = {
            "type": 2,
            "chainId": self.chain_id,
            "nonce": sent.nonce,
            "to": sent.to,
            "data": sent.data,
            "value": 0,
            "gas": sent.gas_limit,
            "maxFeePerGas": fees.max_fee_per_gas,
            "maxPriorityFeePerGas": fees.max_priority_fee_per_gas,
        }
        if not sent.to:
            del tx["to"]  # contract creation
        raw, tx_hash = self.signer.sign(tx)
        self.journal.record_signed(
            tx_hash=tx_hash,
            sender=self.signer.address,
            nonce=sent.nonce,
            raw=raw,
            to=sent.to,
            data=sent.data,
            gas_limit=sent.gas_limit,
            max_fee=fees.max_fee_per_gas,
            tip=fees.max_priority_fee_per_gas,
            purpose=sent.purpose,
            meta=sent.meta,
        )
        sent.hashes.append(tx_hash)
        sent.fees.append(fees)
        await self._broadcast_raw(raw, tx_hash, sent.nonce)
        log.info(
            "transaction_sent",
            sent_at=round(time.time(), 6),
            purpose=sent.purpose,
            tx_hash=tx_hash,
            nonce=sent.nonce,
            max_fee=fees.max_fee_per_gas,
            tip=fees.max_priority_fee_per_gas,
        )
        return tx_hash

    async def _broadcast_raw(self, raw: bytes, tx_hash: str, nonce: int) -> None:
        """Deliver signed bytes on every channel; the first channel's refusal decides.

        Any channel that takes them makes the transaction broadcast: the same bytes are the same
        transaction wherever they land.
        """
        refused: ChannelRefusedError | None = None
        delivered = False
        for channel in self.channels:
            try:
                delivery = await channel.submit(raw, tx_hash)
            except ChannelRefusedError as exc:
                refused = refused or exc
                continue
            delivered = True
            if delivery is Delivery.UNCONFIRMED:
                # The channel may or may not have it; tracking will find out by hash.
                log.warning(
                    "broadcast_unconfirmed", tx_hash=tx_hash, nonce=nonce, channel=channel.name
                )
        if not delivered and refused is not None:
            await self._refused(refused, tx_hash, nonce)
        self.journal.mark(tx_hash, "broadcast")

    async def _refused(self, exc: ChannelRefusedError, tx_hash: str, nonce: int) -> None:
        """Journal a refused delivery and raise what the refusal means for the nonce."""
        if exc.refusal is SendRefusal.NONCE_LOW:
            if await self.client.get_receipt(tx_hash) is not None:
                return  # ours, mined already: tracking settles it
            self.journal.mark(tx_hash, "dropped", note=exc.detail)
            await self._resync_nonce()
            raise NonceTooLowError(f"nonce {nonce} already used: {exc.detail}") from None
        self.journal.mark(tx_hash, "dropped", note=exc.detail)
        if exc.refusal is SendRefusal.UNDERPRICED:
            raise UnderpricedError(f"nonce {nonce}: {exc.detail}") from None
        raise TransactionError(f"broadcast of nonce {nonce} refused: {exc.detail}") from None

    # -- tracking ------------------------------------------------------------------------------

    async def _find_receipt(self, sent: Sent) -> str | None:
        for tx_hash in reversed(sent.hashes):
            if await self.client.get_receipt(tx_hash) is not None:
                return tx_hash
        return None

    async def _nonce_used(self, nonce: int) -> bool:
        return await self.client.get_transaction_count(self.signer.address, "latest") > nonce

    async def settle(self, sent: Sent, *, timeout_s: float) -> Settled:
        """Wait for one attempt at ``sent.nonce`` to be mined, replacing it while it is stuck."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        last_attempt_block = sent.sent_at_block
        delay = min(0.005, self.poll_s)
        used_since: float | None = None
        next_known_check = loop.time() + KNOWN_CHECK_S
        while True:
            outcome = await self._look(sent)
            if isinstance(outcome, Settled):
                return outcome
            if outcome is None and loop.time() >= next_known_check:
                next_known_check = loop.time() + KNOWN_CHECK_S
                await self._rebroadcast_if_unknown(sent)
            if outcome == "nonce_used":
                # A node can count the nonce before it serves the receipt (or one replica of a
                # load-balanced endpoint lags another): only a lasting absence means "dropped".
                used_since = used_since if used_since is not None else loop.time()
                if loop.time() - used_since >= DROP_GRACE_S:
                    return self._dropped(sent)
            else:
                used_since = None
            if loop.time() >= deadline:
                return Settled(
                    "timeout",
                    sent.hashes[-1],
                    None,
                    len(sent.hashes) - 1,
                    "still pending; the journal keeps it for the next start",
                    sent.purpose,
                    sent.meta,
                )
            head = await self.client.get_block("latest")
            number = int(head["number"], 16)
            stuck = number - last_attempt_block >= self.stuck_blocks
            priced_out = int(head.get("baseFeePerGas", "0x0"), 16) > sent.fees[-1].max_fee_per_gas
            if (stuck or priced_out) and await self._replace(sent):
                last_attempt_block = number
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.poll_s)

    async def _look(self, sent: Sent) -> Settled | Literal["nonce_used"] | None:
        """How the nonce stands: settled, counted without a receipt of ours yet, or pending.

        Returns the Settled end if an attempt is mined, "nonce_used" when the node counts the
        nonce but serves no receipt of ours (yet), and None while it is simply pending.
        """
        for tx_hash in reversed(sent.hashes):
            receipt = await self.client.receipt(tx_hash)
            if receipt is not None:
                return self._finish(sent, tx_hash, receipt)
        return "nonce_used" if await self._nonce_used(sent.nonce) else None

    async def _resync_nonce(self) -> None:
        """Take the node's pending count, but never below our own transactions in flight.

        One the node has not seen yet (its send failed on the way) still owns its nonce.
        """
        await self.nonces.resync()
        open_nonces = [e.nonce for e in self.journal.open_entries(self.signer.address)]
        if open_nonces:
            self.nonces.at_least(max(open_nonces) + 1)

    async def on_reorg(self, ancestor: int) -> None:
        """Blocks above ``ancestor`` were replaced: our transactions mined there are not.

        One the node still holds (back in its pool) is open again and tracked as before; one it
        no longer knows is dropped, so its account can be planned afresh. The nonce counter is
        re-read either way: the chain's count went back.
        """
        for entry in self.journal.settled_after(self.signer.address, ancestor):
            if await self.client.get_receipt(entry.tx_hash) is not None:
                continue  # mined again, in the new branch
            known = await self.client.request("eth_getTransactionByHash", [entry.tx_hash])
            status: Status = "broadcast" if known is not None else "dropped"
            self.journal.mark(entry.tx_hash, status, note=f"reorged out above block {ancestor}")
            log.warning(
                "transaction_reorged_out",
                tx_hash=entry.tx_hash,
                nonce=entry.nonce,
                purpose=entry.purpose,
                now=status,
            )
        await self._resync_nonce()

    async def _rebroadcast_if_unknown(self, sent: Sent) -> None:
        """Send the newest attempt's signed bytes again if the node does not know it.

        The same bytes are the same transaction: this can never make a second one. It recovers
        a send whose request failed before reaching the node, and a transaction the node's
        pool dropped.
        """
        tx_hash = sent.hashes[-1]
        if await self.client.request("eth_getTransactionByHash", [tx_hash]) is not None:
            return
        entry = next(
            (
                e
                for e in self.journal.at_nonce(self.signer.address, sent.nonce)
                if e.tx_hash == tx_hash
            ),
            None,
        )
        if entry is None:  # pragma: no cover - every attempt is journaled before broadcast
            return
        try:
            await self._broadcast_raw(entry.raw, tx_hash, sent.nonce)
        except TransactionError as exc:
            # Mined meanwhile (nonce too low) or priced out: the next look or replacement decides.
            log.info("rebroadcast_refused", tx_hash=tx_hash, error=str(exc))
            return
        # Logged once the node has it again: whoever reads the log may act on it at once.
        log.warning("rebroadcast", tx_hash=tx_hash, nonce=sent.nonce, reason="unknown to the node")

    def _dropped(self, sent: Sent) -> Settled:
        for tx_hash in sent.hashes:
            self.journal.mark(tx_hash, "dropped", note="nonce used by another transaction")
        return Settled(
            "dropped",
            None,
            None,
            len(sent.hashes) - 1,
            "nonce used by a transaction not in the journal",
            sent.purpose,
            sent.meta,
        )

    async def _replace(self, sent: Sent) -> bool:
        quote = await self.fees.quote_uncapped(self.client)
        # A liquidation's replacement never pays more per gas than its profit allows.
        ceiling = _fee_ceiling(sent.meta)
        cap = self.fees.max_fee if ceiling is None else min(self.fees.max_fee, ceiling)
        new = bumped(sent.fees[-1], quote, cap, self.fees.max_tip)
        if new is None:
            return False
        try:
            tx_hash = await self._attempt(sent, new)
        except UnderpricedError as exc:
            log.warning("replacement_refused", nonce=sent.nonce, error=str(exc))
            return False
        except NonceTooLowError:
            return False  # the nonce got mined meanwhile; the next look settles it
        log.info(
            "transaction_replaced",
            nonce=sent.nonce,
            tx_hash=tx_hash,
            max_fee=new.max_fee_per_gas,
            tip=new.max_priority_fee_per_gas,
            attempt=len(sent.hashes),
        )
        return True

    def _finish(self, sent: Sent, tx_hash: str, receipt: Receipt) -> Settled:
        ok = receipt.ok
        self.journal.mark(tx_hash, "mined" if ok else "reverted", block=receipt.block_number)
        for other in sent.hashes:
            if other != tx_hash:
                self.journal.mark(other, "replaced", note=f"nonce settled by {tx_hash}")
        status: Literal["mined", "reverted"] = "mined" if ok else "reverted"
        return Settled(status, tx_hash, receipt, len(sent.hashes) - 1, "", sent.purpose, sent.meta)
