"""What both executors do around a plan's transactions: simulate, size gas, send, read results.

Composition, not inheritance: the inventory and flash executors each hold one. Every figure of
an attempt (its broadcast time, send and inclusion timings) is returned with that attempt, so
concurrent plans never read each other's.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from keeper.chain.rpc_errors import unsupported_method
from keeper.core.outcome import Outcome, OutcomeStatus
from keeper.errors import ContractRevertError, RpcError, TransactionError, TransientRpcError
from keeper.execution.reasons import RevertReason
from keeper.execution.rivals import RivalWatch
from keeper.strategy.gas import wei_to_base

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Sequence

    from keeper.chain.client import ChainClient
    from keeper.chain.types import PendingTx, Receipt
    from keeper.core.market import Call, LendingMarket
    from keeper.core.outcome import TxPurpose
    from keeper.core.plan import AnyPlan
    from keeper.execution.executor import ExecRequest
    from keeper.execution.fees import Fees
    from keeper.execution.sender import TxSender
    from keeper.execution.transactions import Sent
    from keeper.strategy.bidding import BidLimits
    from keeper.submission.channel import BackrunRoute

log = structlog.get_logger(__name__)
# eth_estimateGas on some nodes (Anvil among them) runs Aave at a timestamp where interest
# accrual is skipped and comes out low; the mined call then needs more. Pad generously: only
# gas used is paid.
GAS_PAD_NUM, GAS_PAD_DEN, GAS_PAD_ADD = 3, 2, 150_000
# eth_simulateV1 reports gas used net of storage refunds, and nested calls only get 63/64 of
# what is left at each level: the limit must exceed the used figure by a wide margin (the mined
# transaction pays only what it uses).
SIM_GAS_PAD_NUM, SIM_GAS_PAD_DEN, SIM_GAS_PAD_ADD = 3, 2, 100_000
Simulation = tuple[int, int] | str  # (gas of all calls, gas of the last) or why it failed


@dataclass(frozen=True)
class Delivered:
    """One transaction sent and settled, with its own timings."""

    tx_hash: str
    receipt: Receipt | None
    sent_at: float  # perf_counter() of its broadcast
    send_ms: float  # signing + journaling + broadcast
    include_ms: float  # broadcast to receipt
    bidding: str = ""  # what the auction for the account came to ("": nobody competed)
    missed: str = ""  # a back-run never included (why): it cost nothing


def limit_of(simulated_gas: int, estimate: int | None) -> int:
    """The gas limit from a simulation and the node's estimate (None: none), both padded."""
    padded = simulated_gas * SIM_GAS_PAD_NUM // SIM_GAS_PAD_DEN + SIM_GAS_PAD_ADD
    return padded if estimate is None else max(padded, estimate * GAS_PAD_NUM // GAS_PAD_DEN)


def ms_since(since: float) -> float:
    """Milliseconds since a ``perf_counter()`` reading, rounded for logs."""
    return round((time.perf_counter() - since) * 1000, 2)


class Transactor:
    """The simulation, gas and send machinery one key's executors share."""

    def __init__(
        self,
        client: ChainClient,
        sender: TxSender,
        market: LendingMarket,
        *,
        receipt_timeout_s: float,
        watch_rivals: bool = False,
    ) -> None:
        self.client = client
        self.sender = sender
        self.market = market
        self.address = sender.signer.address
        self.receipt_timeout_s = receipt_timeout_s
        # The competition watch of plans sent with bidding limits (keeper.execution.rivals).
        self.rivals = RivalWatch(client, sender, market) if watch_rivals else None

    async def close(self) -> None:
        """Stop the competition watch (at shutdown)."""
        if self.rivals is not None:
            await self.rivals.close()

    def guarded(
        self, plan: AnyPlan, simulation: Simulation, request: ExecRequest, gross_base: int
    ) -> tuple[int, int] | Outcome:
        """(total gas, last call's gas) when the plan may be sent, else the outcome stopping it.

        A plan stops when its simulation failed (a reason string) or when its profit
        (``gross_base``, base units) after the simulated gas and the coinbase bid is below the
        minimum.
        """
        if isinstance(simulation, str):
            error = simulation.error if isinstance(simulation, RevertReason) else None
            return Outcome(OutcomeStatus.SIMULATION_FAILED, plan, reason=simulation, error=error)
        bid = wei_to_base(request.coinbase_wei, request.pricing.native_price)
        net = gross_base - request.pricing.cost_base(simulation[0]) - bid
        if net < request.min_profit_base:
            paid = f" and a coinbase bid of {request.coinbase_wei} wei" if bid else ""
            reason = (
                f"profit after simulated gas ({simulation[0]}){paid} is {net}, "
                f"below minimum {request.min_profit_base}"
            )
            return Outcome(OutcomeStatus.NOT_SENT, plan, reason=reason)
        return simulation

    async def simulate(
        self, calls: Sequence[Call], behind: PendingTx | None = None
    ) -> Simulation | None:
        """Run the calls in order in a simulated next block (``eth_simulateV1``).

        Returns (gas of all calls, gas of the last call) on success, the first failure's reason
        as a string, or None when the node does not offer eth_simulateV1.

        A failure is confirmed by a second run before the plan is dropped: Anvil can serve
        "latest" with the state of a block it is still mining under the previous block's header
        (about 1 read in 300 while blocks are mined back to back), and Aave's interest math then
        underflows. Only failing plans pay the extra round trip.
        """
        simulation = await self._simulate_once(calls, behind)
        if isinstance(simulation, str):
            simulation = await self._simulate_once(calls, behind)
        return simulation

    async def _simulate_once(
        self, bundle: Sequence[Call], behind: PendingTx | None
    ) -> Simulation | None:
        calls = [{"from": self.address, "to": c.to, "data": c.data} for c in bundle]
        first = 0
        if behind is not None:
            calls.insert(0, {"from": behind.sender, "to": behind.to or "", "data": behind.input})
            first = 1
        try:
            result = await self.client.request(
                "eth_simulateV1",
                [{"blockStateCalls": [{"calls": calls}], "validation": False}, "latest"],
            )
        except ContractRevertError as exc:
            return f"simulation reverted: {exc}"
        except RpcError as exc:
            if unsupported_method(exc):
                return None
            raise
        try:
            results = result[0]["calls"][first:]
        except (KeyError, IndexError, TypeError):
            raise TransientRpcError(
                "malformed eth_simulateV1 answer", method="eth_simulateV1"
            ) from None
        if len(results) != len(bundle):
            raise TransientRpcError(
                "eth_simulateV1 answered the wrong number of calls", method="eth_simulateV1"
            )
        for index, call in enumerate(results):
            if int(call.get("status", "0x0"), 16) != 1:
                error = call.get("error") or {}
                what = "the liquidation" if index == len(bundle) - 1 else "approve"
                detail = error.get("message", "reverted") if isinstance(error, dict) else "reverted"
                code = self.market.revert_error(str(call.get("returnData", "0x")))
                named = f"(error {code})" if code else ""
                return RevertReason(
                    f"{what} reverted in simulation: {detail} {named}".strip(), code
                )
        return sum(int(c["gasUsed"], 16) for c in results), int(results[-1]["gasUsed"], 16)

    async def gas_limit(self, call: Call, simulated_gas: int) -> int:
        """A limit that covers gross gas: padded simulation, or the node's estimate if higher.

        eth_estimateGas searches for a limit that executes (refunds and 63/64 included) but may
        run at a stale timestamp on some nodes; the padded simulation covers that case.
        """
        return limit_of(simulated_gas, await self.estimate(call))

    async def estimate(self, call: Call) -> int | None:
        """The node's ``eth_estimateGas`` of the call (None when it fails or reverts)."""
        try:
            return await self.client.estimate_gas(
                {"from": self.address, "to": call.to, "data": call.data}
            )
        except RpcError:
            return None

    async def call_revert(self, call: Call) -> str | None:
        """None if the exact call succeeds at the latest block, else the revert reason."""
        try:
            await self.client.call(call.to, call.data, "latest", sender=self.address)
        except ContractRevertError as exc:
            code = self.market.revert_error(exc.data)
            return RevertReason(f"{exc} {exc.data or ''}".strip(), code)
        return None

    async def estimate_or_revert(self, call: Call) -> Simulation:
        """For nodes without eth_simulateV1: eth_call, then eth_estimateGas."""
        revert = await self.call_revert(call)
        if revert is not None:
            return revert
        try:
            gas = await self.client.estimate_gas(
                {"from": self.address, "to": call.to, "data": call.data}
            )
        except ContractRevertError as exc:
            return f"estimateGas: {exc}"
        return gas, gas

    async def deliver(
        self,
        call: Call,
        gas_limit: int,
        *,
        purpose: TxPurpose,
        meta: dict[str, object] | None = None,
        before: Sequence[Sent] = (),
        tip_cap: Fees | None = None,
        release: asyncio.Lock | None = None,
        bid: tuple[str, BidLimits] | None = None,
        route: BackrunRoute | None = None,
    ) -> Delivered:
        """Send through the journaled sender and wait for the nonce to settle.

        ``before`` are this plan's transactions already sent at lower nonces (approvals): they
        are settled first, since a stuck one holds this one back. ``release`` is a lock the
        caller holds until this transaction is sent (not settled). ``bid``: the account and the
        plan's bidding limits; while the plan's transactions are pending, rivals for the
        account are outbid within them (when the watch is on). ``route``: a back-run (see
        :meth:`TxSender.send`); one never included comes back with ``missed`` set.
        """
        t0 = time.perf_counter()
        try:
            sent = await self.sender.send(
                call.to,
                call.data,
                gas_limit,
                purpose=purpose,
                meta=meta,
                tip_cap=tip_cap,
                route=route,
            )
        finally:
            if release is not None:
                release.release()
        sent_at = time.perf_counter()
        async with contextlib.AsyncExitStack() as stack:
            contest = None
            if bid is not None and self.rivals is not None and route is None:
                contest = await stack.enter_async_context(
                    self.rivals.watching(bid[0], [*before, sent], bid[1])
                )
            for earlier in before:
                done = await self.sender.settle(earlier, timeout_s=self.receipt_timeout_s)
                if contest is not None:
                    contest.settled(earlier)
                if done.status != "mined":
                    log.warning(
                        "approval_not_mined",
                        nonce=earlier.nonce,
                        status=done.status,
                        note=done.note,
                    )
            settled = await self.sender.settle(sent, timeout_s=self.receipt_timeout_s)
        if settled.status == "dropped" and route is not None:
            missed = settled.note or "not included"
            return Delivered(sent.hashes[-1], None, sent_at, 0.0, ms_since(sent_at), missed=missed)
        if settled.status == "dropped":
            raise TransactionError(f"nonce {sent.nonce}: {settled.note}")
        return Delivered(
            settled.tx_hash or sent.hashes[-1],
            settled.receipt,
            sent_at,
            round((sent_at - t0) * 1000, 2),
            ms_since(sent_at),
            "" if contest is None else contest.note(),
        )

    async def outcome(
        self,
        plan: AnyPlan,
        delivered: Delivered,
        liquidator: str,
        timings: dict[str, float],
        *,
        bid_wei: int = 0,
    ) -> Outcome:
        """The outcome of a delivered liquidation: what it moved, or who beat us.

        ``bid_wei``: the coinbase bid our contract pays with the liquidation (all or nothing:
        paid exactly when it liquidated).
        """
        timings = {**timings, "send": delivered.send_ms, "include": delivered.include_ms}
        if delivered.missed:
            return Outcome(
                OutcomeStatus.NOT_INCLUDED,
                plan,
                tx_hash=delivered.tx_hash,
                reason=delivered.missed,
                timings_ms=timings,
                sent_at=delivered.sent_at,
            )
        if delivered.receipt is None:
            return Outcome(
                OutcomeStatus.TIMEOUT,
                plan,
                tx_hash=delivered.tx_hash,
                reason=f"no receipt within {self.receipt_timeout_s}s",
                timings_ms=timings,
                sent_at=delivered.sent_at,
            )
        outcome = await self.read_receipt(plan, delivered.receipt, liquidator)
        outcome.timings_ms, outcome.sent_at = timings, delivered.sent_at
        if outcome.status is OutcomeStatus.LIQUIDATED:
            outcome.bid_paid_wei = bid_wei
        if delivered.bidding:
            outcome.reason = "; ".join(r for r in (outcome.reason, delivered.bidding) if r)
        return outcome

    async def read_receipt(self, plan: AnyPlan, receipt: Receipt, liquidator: str) -> Outcome:
        """What a mined liquidation did: amounts from the protocol's events, or the winner."""
        common = {
            "tx_hash": receipt.tx_hash,
            "gas_used": receipt.gas_used,
            "gas_cost_wei": receipt.gas_cost_wei,
            "block": receipt.block_number,
        }
        if not receipt.ok:
            winner = await self.market.winner(self.client, plan, receipt, liquidator)
            return Outcome(
                OutcomeStatus.LOST if winner else OutcomeStatus.REVERTED,
                plan,
                reason=f"beaten by {winner}" if winner else "mined with status 0",
                winner_tx=winner,
                **common,  # type: ignore[arg-type]  # the shared receipt fields
            )
        moved = self.market.realised(plan, receipt, liquidator)
        return Outcome(
            OutcomeStatus.LIQUIDATED,
            plan,
            spent=moved.spent,
            received=moved.received,
            realized_profit=moved.profit,
            **common,  # type: ignore[arg-type]  # the shared receipt fields
        )
