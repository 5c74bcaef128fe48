"""Signing, broadcasting and tracking transactions: the only code that uses the key.

Every transaction is journaled before broadcast. Broadcast errors are resolved by looking up our
own hash ("already known" and "nonce too low" often mean the transaction is already in), never by
a blind resend with a new nonce. While a transaction waits, each new block is checked: once it
has waited ``stuck_blocks`` blocks, or the base fee has risen above its max fee, it is replaced at
the same nonce with both fee caps raised by at least 12.5%, up to the configured caps and the
plan's bidding limits; the bidding watch replaces it the same way to outbid a rival
(:meth:`TxSender.outbid`). Whichever attempt is mined settles the nonce; the others are
journaled as replaced.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, Literal

import structlog

from keeper.core.outcome import TxPurpose
from keeper.errors import NonceTooLowError, TransactionError, UnderpricedError
from keeper.execution.broadcast import Broadcast
from keeper.execution.fees import Fees, bumped, is_valid_replacement
from keeper.execution.journal import record_inclusion
from keeper.execution.nonces import NonceManager
from keeper.execution.recovery import Recovery
from keeper.execution.transactions import Sent, Settled, fee_ceiling, route_meta, route_of
from keeper.strategy.bidding import limits_from_meta
from keeper.submission.public import PublicMempool

if TYPE_CHECKING:
    from collections.abc import Sequence

    from keeper.chain.client import ChainClient
    from keeper.chain.types import Receipt
    from keeper.execution.fees import FeePolicy
    from keeper.execution.journal import Journal
    from keeper.execution.signer import Signer
    from keeper.submission.channel import BackrunChannel, BackrunRoute, SubmissionChannel

log = structlog.get_logger(__name__)
DROP_GRACE_S = 3.0
# A pending transaction the node does not know (its send failed before reaching it, or the pool
# dropped it) is re-broadcast, same signed bytes, this often.
KNOWN_CHECK_S = 0.5
FILL_GAS = 21_000  # a plain transfer: what a self-transfer that only uses a nonce costs
SEND_ATTEMPTS = 3


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
        backrun_channel: BackrunChannel | None = None,
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
        # Where back-runs of private transactions go, and nothing else (None: not configured).
        self.backrun_channel = backrun_channel
        self.recovery = Recovery(self)
        self.broadcast = Broadcast(self)
        # One replacement at a time: the stuck-transaction path and the bidding watch both
        # replace from a nonce's latest attempt.
        self._replacing = asyncio.Lock()

    async def reconcile(self, *, timeout_s: float = 120.0) -> list[Settled]:
        """Settle what the journal holds open (after a crash); see :class:`Recovery`."""
        return await self.recovery.reconcile(timeout_s=timeout_s)

    async def check_open(self) -> list[Settled]:
        """One look, each block, at transactions left open; see :class:`Recovery`."""
        return await self.recovery.check_open()

    async def on_reorg(self, ancestor: int) -> None:
        """Blocks above ``ancestor`` were replaced; see :class:`Recovery`."""
        await self.recovery.on_reorg(ancestor)

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
        value: int = 0,
        route: BackrunRoute | None = None,
    ) -> Sent:
        """Sign, journal and broadcast a new transaction at the next nonce (``value`` in wei).

        With a ``route``, the transaction is a back-run: it goes to the back-run channel only,
        and is never replaced (its bundle is for the blocks of the transaction it backs).

        A refusal that a fresh nonce or fresh fees cure ("nonce too low": our counter was
        behind, e.g. another sender used the key; "underpriced", "max fee per gas less than
        block base fee") is tried again with the node's pending nonce and a new fee quote. The
        refused attempt never entered the node's pool, so this cannot make a second transaction.
        """
        for attempt in range(1, SEND_ATTEMPTS + 1):
            # A refused attempt may have been priced under the base fee: quote again.
            fees = await self.fees.quote(self.client, fresh=attempt > 1)
            ceiling = fee_ceiling(meta)
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
                journaled = {
                    **(meta or {}),
                    **({"value": value} if value else {}),
                    **route_meta(route),
                }
                sent = Sent(
                    nonce, to, data, gas_limit, purpose, journaled, sent_at_block=block, value=value
                )
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
                    await self.resync_nonce()
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
            "value": sent.value,
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
        # The journal write above was the fenced decision to send (the lease's epoch).
        await self.broadcast_raw(raw, tx_hash, sent.nonce, decided=True, route=route_of(sent.meta))
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

    async def broadcast_raw(
        self,
        raw: bytes,
        tx_hash: str,
        nonce: int,
        *,
        decided: bool = False,
        route: BackrunRoute | None = None,
    ) -> None:
        """Deliver signed bytes on the channels; see :meth:`Broadcast.raw`."""
        await self.broadcast.raw(raw, tx_hash, nonce, decided=decided, route=route)

    # -- tracking ------------------------------------------------------------------------------

    async def nonce_used(self, nonce: int) -> bool:
        """Whether the chain counts ``nonce`` as used (by any transaction)."""
        return await self.client.get_transaction_count(self.signer.address, "latest") > nonce

    async def settle(self, sent: Sent, *, timeout_s: float) -> Settled:
        """Wait for one attempt at ``sent.nonce`` to be mined, replacing it while it is stuck."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        last_attempt_block, attempts = sent.sent_at_block, len(sent.hashes)
        delay = min(0.005, self.poll_s)
        used_since: float | None = None
        next_known_check = loop.time() + KNOWN_CHECK_S
        while True:
            outcome = await self.look(sent)
            if isinstance(outcome, Settled):
                return outcome
            if outcome is None and (why := await self.recovery.give_back_if_lost(sent)):
                return self._dropped(sent, why)
            if outcome is None and loop.time() >= next_known_check:
                next_known_check = loop.time() + KNOWN_CHECK_S
                await self.recovery.rebroadcast_if_unknown(sent)
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
            if len(sent.hashes) != attempts:  # replaced meanwhile (outbid): a fresh attempt
                last_attempt_block, attempts = number, len(sent.hashes)
            stuck = number - last_attempt_block >= self.stuck_blocks
            priced_out = int(head.get("baseFeePerGas", "0x0"), 16) > sent.fees[-1].max_fee_per_gas
            if (stuck or priced_out) and route_of(sent.meta) is None and await self.replace(sent):
                last_attempt_block, attempts = number, len(sent.hashes)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.poll_s)

    async def look(self, sent: Sent) -> Settled | Literal["nonce_used"] | None:
        """How the nonce stands: settled, counted without a receipt of ours yet, or pending.

        Returns the Settled end if an attempt is mined, "nonce_used" when the node counts the
        nonce but serves no receipt of ours (yet), and None while it is simply pending.
        """
        for tx_hash in reversed(sent.hashes):
            receipt = await self.client.receipt(tx_hash)
            if receipt is not None:
                return self._finish(sent, tx_hash, receipt)
        return "nonce_used" if await self.nonce_used(sent.nonce) else None

    async def fill_nonce(self, lost: Sent) -> str:
        """Use ``lost``'s nonce with a self-transfer, through the usual channels; its hash.

        For a privately lost transaction whose nonce cannot be given back (later ones are out
        and wait for it). The caller holds the nonce lock. The filler is journaled like any
        transaction and left open: the per-block look settles it (or replaces it if stuck).
        """
        fees = await self.fees.quote(self.client, fresh=True)
        block = await self.client.block_number()
        me = self.signer.address
        filler = Sent(
            lost.nonce,
            me,
            "0x",
            FILL_GAS,
            TxPurpose.CANCEL,
            {"fills": lost.hashes[-1]},
            sent_at_block=block,
        )
        return await self._attempt(filler, fees)

    async def resync_nonce(self) -> None:
        """Take the node's pending count, but never below our own transactions in flight.

        One the node has not seen yet (its send failed on the way) still owns its nonce.
        """
        await self.nonces.resync()
        open_nonces = [e.nonce for e in self.journal.open_entries(self.signer.address)]
        if open_nonces:
            self.nonces.at_least(max(open_nonces) + 1)

    def _dropped(
        self, sent: Sent, why: str = "nonce used by a transaction not in the journal"
    ) -> Settled:
        for tx_hash in sent.hashes:
            self.journal.mark(tx_hash, "dropped", note=why)
        return Settled("dropped", None, None, len(sent.hashes) - 1, why, sent.purpose, sent.meta)

    async def replace(self, sent: Sent) -> bool:
        """Send ``sent`` again at its nonce with bumped fees; False when that is not possible.

        Within the caps and the plan's bidding limits (its meta): a liquidation's replacement
        never offers more per gas than its break-even price, nor a tip above its share.
        """
        base_fee, tip = await self.fees.base_and_tip(self.client, fresh=True)
        cap_fee, cap_tip = self._caps(sent, base_fee)
        async with self._replacing:
            new = bumped(sent.fees[-1], Fees(2 * base_fee + tip, tip), cap_fee, cap_tip)
            return new is not None and await self._replace_with(sent, new, "stuck")

    async def outbid(self, sent: Sent, fees: Fees) -> bool:
        """Replace pending ``sent`` at its nonce with ``fees``: a rival bids for its account.

        Refused (False, nothing signed) unless ``fees`` is a valid replacement of the latest
        attempt (both fields up by 12.5%) within the caps and the plan's limits in its meta at
        the latest base fee; False too when the nonce was mined meanwhile.
        """
        base_fee, _ = await self.fees.base_and_tip(self.client)
        cap_fee, cap_tip = self._caps(sent, base_fee)
        async with self._replacing:
            if (
                fees.max_fee_per_gas > cap_fee
                or fees.max_priority_fee_per_gas > min(cap_tip, fees.max_fee_per_gas)
                or not is_valid_replacement(sent.fees[-1], fees)
            ):
                return False
            return await self._replace_with(sent, fees, "outbid")

    def _caps(self, sent: Sent, base_fee: int) -> tuple[int, int]:
        """(max fee, tip) a replacement of ``sent`` may offer at ``base_fee``."""
        limits = limits_from_meta(sent.meta, self.fees.max_tip, self.fees.max_fee)
        if limits is None:
            return self.fees.max_fee, self.fees.max_tip
        return limits.fee_ceiling, limits.tip_ceiling(base_fee)

    async def _replace_with(self, sent: Sent, new: Fees, why: str) -> bool:
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
            why=why,
        )
        return True

    def _finish(self, sent: Sent, tx_hash: str, receipt: Receipt) -> Settled:
        ok = receipt.ok
        self.journal.mark(tx_hash, "mined" if ok else "reverted", block=receipt.block_number)
        record_inclusion(self.journal, tx_hash, receipt.block_number)
        for other in sent.hashes:
            if other != tx_hash:
                self.journal.mark(other, "replaced", note=f"nonce settled by {tx_hash}")
        status: Literal["mined", "reverted"] = "mined" if ok else "reverted"
        return Settled(status, tx_hash, receipt, len(sent.hashes) - 1, "", sent.purpose, sent.meta)
