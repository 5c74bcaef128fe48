"""Liquidations paid from the keeper's own token balance.

Per plan: simulate the exact bundle [approve exactly ``debt_to_cover``, ``liquidationCall``] in
a simulated next block (``eth_simulateV1``) before anything is signed -> send the approval ->
send the liquidation with the simulated gas plus a pad -> wait for the receipt -> read what the
Pool really moved from its ``LiquidationCall`` event. A plan that fails simulation costs nothing.
An approval that is not fully used is revoked, so no allowance is left behind. Nodes without
``eth_simulateV1`` fall back to approve -> ``eth_call`` -> revoke on failure.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import TYPE_CHECKING, Any

import structlog

from keeper.errors import ContractRevertError, RpcError, TransactionError, TransientRpcError
from keeper.execution.outcome import Outcome
from keeper.protocols.aave_v3.market import ERC20, POOL
from keeper.protocols.aave_v3.reverts import RevertReason, revert_error

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from keeper.chain.client import ChainClient
    from keeper.execution.fees import Fees
    from keeper.execution.sender import Sent, TxSender
    from keeper.strategy.plan import LiquidationPlan

log = structlog.get_logger(__name__)
APPROVE_GAS = 100_000
# eth_estimateGas on some nodes (Anvil among them) runs Aave at a timestamp where interest
# accrual is skipped and comes out low; the mined call then needs more. Pad generously: only
# gas used is paid.
GAS_PAD_NUM, GAS_PAD_DEN, GAS_PAD_ADD = 3, 2, 150_000
LIQUIDATION_TOPIC = POOL.topic("LiquidationCall")
# eth_simulateV1 reports gas used net of storage refunds, and nested calls only get 63/64 of
# what is left at each level: the limit must exceed the used figure by a wide margin (the mined
# transaction pays only what it uses).
SIM_GAS_PAD_NUM, SIM_GAS_PAD_DEN, SIM_GAS_PAD_ADD = 3, 2, 100_000


def _revert_reason(call: dict[str, Any]) -> str:
    """A simulated call's decoded revert (string code, panic or custom error), for the reason."""
    error = revert_error(str(call.get("returnData", "0x")))
    return "" if error is None else f"(error {error})"


class InventoryExecutor:
    """Executes plans with the keeper's own tokens. The only class here that sends."""

    def __init__(
        self,
        client: ChainClient,
        sender: TxSender,
        *,
        pool: str,
        receipt_timeout_s: float,
    ) -> None:
        self.client = client
        self.sender = sender
        self.signer = sender.signer
        self.liquidator = sender.signer.address  # who the Pool sees as liquidator
        self.last_sent_at = 0.0  # perf_counter() of the latest broadcast (reaction latency)
        self.last_send_ms = 0.0  # signing + journaling + broadcast of the latest transaction
        self.last_include_ms = 0.0  # broadcast to receipt
        self.pool = pool
        self.receipt_timeout_s = receipt_timeout_s
        self._bundle_lock = asyncio.Lock()
        # Debt tokens whose approval a liquidation did not use up (the Pool pulled less than
        # passed): revoked together once the block's plans are done (revoke_leftovers).
        self._leftover: set[str] = set()

    async def execute(
        self,
        plan: LiquidationPlan,
        guard: Callable[[int], str | None] | None = None,
        *,
        behind: dict[str, Any] | None = None,
        tip_cap: Fees | None = None,
        fee_ceiling: int | None = None,
        allowance: int | None = None,
    ) -> Outcome:
        """Run one plan to a final outcome; never raises for an on-chain failure.

        ``guard`` gets the simulated gas of everything this plan would send and returns a reason
        to refuse (the profit after that gas is too low), or None to go ahead.

        ``behind`` is a pending transaction (as eth_getTransactionByHash gives it, e.g. an oracle
        update) that the plan depends on: the simulation runs it first. ``tip_cap`` caps our
        tip (below that transaction's, so that a block orders ours after it). ``fee_ceiling``
        is the most per gas the plan's transactions may ever pay (replacements included).
        ``allowance`` is ours to the Pool of the debt asset if the caller has just read it.
        """
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        calldata = POOL.encode(
            "liquidationCall",
            plan.collateral_asset,
            plan.debt_asset,
            plan.account,
            plan.debt_to_cover,
            False,
        )
        if allowance is None:
            allowance = await self._allowance(plan.debt_asset)
        approvals = self._approvals_needed(plan, allowance)
        bundle = [
            (plan.debt_asset, ERC20.encode("approve", self.pool, amount)) for amount in approvals
        ]
        bundle.append((self.pool, calldata))
        simulation = await self._simulate_bundle(bundle, behind)
        timings["simulate"] = _ms(t0)
        if simulation is None:
            return await self._execute_without_bundle_simulation(
                plan, calldata, allowance, guard, timings
            )
        checked = self._gas_or_refusal(plan, simulation, guard, timings)
        if isinstance(checked, Outcome):
            return checked
        _, liquidation_gas = checked

        t0 = time.perf_counter()
        sent: list[Sent] = []
        # One plan's approvals and liquidation take consecutive nonces: a concurrent plan on
        # the same debt token must not set the allowance in between.
        await self._bundle_lock.acquire()
        try:
            # A plan sent meanwhile on the same token makes the allowance read stale.
            now = self._approvals_needed(plan, allowance)
            if len(now) > len(approvals):
                more = self._gas_or_refusal(
                    plan,
                    (checked[0] + APPROVE_GAS * (len(now) - len(approvals)), liquidation_gas),
                    guard,
                    timings,
                )
                if isinstance(more, Outcome):
                    self._bundle_lock.release()
                    return more
            gas_limit = await self._send_approvals(
                plan, calldata, now, liquidation_gas, sent, tip_cap, fee_ceiling
            )
        except BaseException:
            self._bundle_lock.release()
            raise
        timings["approve"] = _ms(t0)
        return await self._send_liquidation(
            plan,
            calldata,
            gas_limit,
            timings,
            after=sent,
            tip_cap=tip_cap,
            release=self._bundle_lock,
            fee_ceiling=fee_ceiling,
        )

    def _approvals_needed(self, plan: LiquidationPlan, allowance: int) -> list[int]:
        """The approvals to send before ``plan``'s liquidation, given the allowance as read.

        The read is trusted only if no transaction of ours that sets or spends this allowance
        is still open or was mined after the plan's block. Otherwise the allowance is unknown:
        reset to 0 first (tokens like USDT refuse to change a non-zero allowance), then approve.
        """
        if not self._allowance_settled(plan.debt_asset, plan.block):
            return [0, plan.debt_to_cover]
        if allowance == plan.debt_to_cover:
            return []
        return ([0] if allowance != 0 else []) + [plan.debt_to_cover]

    def _allowance_settled(self, token: str, block: int) -> bool:
        """No transaction of ours touching our allowance of ``token`` is open or after ``block``."""
        token = token.lower()
        for entry in self.sender.journal.open_or_settled_after(self.signer.address, block):
            if entry.to.lower() == token:
                return False  # an approval
            spent = str(entry.meta.get("debt_asset", "")).lower()
            if entry.purpose == "liquidation" and spent == token:
                return False  # spends the allowance
        return True

    async def _send_approvals(
        self,
        plan: LiquidationPlan,
        calldata: str,
        amounts: list[int],
        liquidation_gas: int,
        sent: list[Sent],
        tip_cap: Fees | None,
        fee_ceiling: int | None,
    ) -> int:
        """Send the approvals of ``amounts`` (into ``sent``); the liquidation's gas limit."""
        if amounts:
            # Sent back to back with the liquidation (the next nonces), not waited for: the
            # simulation ran them in this order, so all of them land in the same block. The
            # node's gas estimate would fail before the approval is mined: the padded
            # simulated gas is the limit.
            for amount in amounts:
                approval = await self.sender.send(
                    plan.debt_asset,
                    ERC20.encode("approve", self.pool, amount),
                    APPROVE_GAS,
                    purpose="approve",
                    meta=_ceiling_meta(fee_ceiling),
                    tip_cap=tip_cap,
                )
                sent.append(approval)
            return liquidation_gas * SIM_GAS_PAD_NUM // SIM_GAS_PAD_DEN + SIM_GAS_PAD_ADD
        return await self.gas_limit(self.pool, calldata, liquidation_gas)

    async def _execute_without_bundle_simulation(
        self,
        plan: LiquidationPlan,
        calldata: str,
        allowance: int,
        guard: Callable[[int], str | None] | None,
        timings: dict[str, float],
    ) -> Outcome:
        """For nodes without eth_simulateV1: approve first, then eth_call the liquidation.

        The approval must be mined before the call can check the liquidation, so the whole
        sequence holds the bundle lock: no other plan may set the allowance meanwhile.
        """
        async with self._bundle_lock:
            return await self._approve_check_send(plan, calldata, allowance, guard, timings)

    async def _approve_check_send(
        self,
        plan: LiquidationPlan,
        calldata: str,
        allowance: int,
        guard: Callable[[int], str | None] | None,
        timings: dict[str, float],
    ) -> Outcome:
        t0 = time.perf_counter()
        for amount in self._approvals_needed(plan, allowance):
            await self._approve(plan.debt_asset, amount)
        timings["approve"] = _ms(t0)
        revert = await self._eth_call_revert(self.pool, calldata)
        if revert is None:
            try:
                estimate = await self.client.estimate_gas(
                    {"from": self.signer.address, "to": self.pool, "data": calldata}
                )
            except ContractRevertError as exc:
                revert = f"estimateGas: {exc}"
        simulated: tuple[int, int] | str = revert if revert is not None else (estimate, estimate)
        checked = self._gas_or_refusal(plan, simulated, guard, timings)
        if isinstance(checked, Outcome):
            await self._approve(plan.debt_asset, 0)
            return checked
        gas_limit = checked[0] * GAS_PAD_NUM // GAS_PAD_DEN + GAS_PAD_ADD
        return await self._send_liquidation(plan, calldata, gas_limit, timings)

    def _gas_or_refusal(
        self,
        plan: LiquidationPlan,
        simulation: tuple[int, int] | str,
        guard: Callable[[int], str | None] | None,
        timings: dict[str, float],
    ) -> tuple[int, int] | Outcome:
        """(total gas, last call's gas) when the plan may be sent, else the outcome stopping it.

        A plan stops when its simulation failed (a reason string) or when ``guard`` finds the
        profit after the simulated gas too low.
        """
        if isinstance(simulation, str):
            error = simulation.error if isinstance(simulation, RevertReason) else None
            return Outcome(
                "simulation_failed", plan, reason=simulation, error=error, timings_ms=timings
            )
        refusal = guard(simulation[0]) if guard is not None else None
        if refusal is not None:
            return Outcome("not_sent", plan, reason=refusal, timings_ms=timings)
        return simulation

    async def _send_liquidation(
        self,
        plan: LiquidationPlan,
        calldata: str,
        gas_limit: int,
        timings: dict[str, float],
        *,
        after: Sequence[Sent] = (),
        tip_cap: Fees | None = None,
        release: asyncio.Lock | None = None,
        fee_ceiling: int | None = None,
    ) -> Outcome:
        """Send the liquidation and read its outcome.

        ``release``: the bundle lock, held by the caller and let go once the liquidation is
        sent. Without it, the caller holds the bundle lock until this returns.
        """
        tx_hash, receipt = await self._send(
            self.pool,
            calldata,
            gas_limit,
            purpose="liquidation",
            meta={**dataclasses.asdict(plan), **_ceiling_meta(fee_ceiling)},
            before=after,
            tip_cap=tip_cap,
            release=release,
        )
        timings["send"], timings["include"] = self.last_send_ms, self.last_include_ms
        if receipt is None:
            return Outcome(
                "timeout",
                plan,
                tx_hash=tx_hash,
                reason=f"no receipt within {self.receipt_timeout_s}s",
                timings_ms=timings,
            )
        outcome = await self._outcome(plan, tx_hash, receipt, timings)
        if outcome.status != "liquidated":
            # Reverted or not seen mined: revoke the approval now, never between another
            # plan's approval and its liquidation.
            if release is not None:
                await release.acquire()
            await self._revoke(plan.debt_asset, release)
        elif outcome.debt_repaid < plan.debt_to_cover:
            # Less pulled than approved (all of a debt, 3.3+): revoked after the block's plans,
            # off their path; a plan on the token meanwhile resets the allowance itself.
            self._leftover.add(plan.debt_asset)
        return outcome

    async def revoke_leftovers(self) -> None:
        """Revoke the approvals liquidations left partly unused, one ``approve(0)`` per token.

        Sent, not waited for: the journal settles them with every open transaction.
        """
        if not self._leftover:
            return
        async with self._bundle_lock:
            for token in sorted(self._leftover):
                await self.sender.send(
                    token, ERC20.encode("approve", self.pool, 0), APPROVE_GAS, purpose="approve"
                )
                self._leftover.discard(token)

    async def _revoke(self, token: str, release: asyncio.Lock | None) -> None:
        """Send ``approve(0)``; a revocation still pending is journaled, not a failure.

        The liquidation's outcome stands whatever becomes of it: the journal settles the
        revocation later, and the next plan on the token reads the allowance anew.
        """
        _, receipt = await self._send(
            token,
            ERC20.encode("approve", self.pool, 0),
            APPROVE_GAS,
            purpose="approve",
            release=release,
        )
        if receipt is not None and int(receipt["status"], 16) != 1:
            raise TransactionError(f"approve(0) on {token} reverted")

    async def outcome_of(self, plan: LiquidationPlan, receipt: dict[str, Any]) -> Outcome:
        """What a liquidation of ours settled elsewhere did, read as if this executor waited.

        Settled elsewhere: by ``check_open`` after a receipt timeout, or at start from the
        journal.
        """
        return await self._outcome(plan, str(receipt.get("transactionHash")), receipt, {})

    async def _outcome(
        self,
        plan: LiquidationPlan,
        tx_hash: str,
        receipt: dict[str, Any],
        timings: dict[str, float],
    ) -> Outcome:
        """What a mined liquidation did: amounts from its event, or who beat us if it reverted."""
        gas_used = int(receipt["gasUsed"], 16)
        gas_cost = gas_used * int(receipt.get("effectiveGasPrice", "0x0"), 16)
        block = int(receipt["blockNumber"], 16)
        if int(receipt["status"], 16) != 1:
            winner = await self._winner(plan, receipt)
            return Outcome(
                "lost" if winner else "reverted",
                plan,
                tx_hash=tx_hash,
                gas_used=gas_used,
                gas_cost_wei=gas_cost,
                reason=f"beaten by {winner}" if winner else "mined with status 0",
                timings_ms=timings,
                winner_tx=winner,
                block=block,
            )
        repaid, seized = self._liquidation_amounts(receipt, plan)
        return Outcome(
            "liquidated",
            plan,
            tx_hash=tx_hash,
            gas_used=gas_used,
            gas_cost_wei=gas_cost,
            debt_repaid=repaid,
            collateral_received=seized,
            timings_ms=timings,
            block=block,
        )

    async def _simulate_bundle(
        self, bundle: list[tuple[str, str]], behind: dict[str, Any] | None = None
    ) -> tuple[int, int] | str | None:
        """Run the calls in order in a simulated next block (``eth_simulateV1``).

        Returns (gas of all calls, gas of the last call) on success, the first failure's reason
        as a string, or None when the node does not offer eth_simulateV1.

        A failure is confirmed by a second run before the plan is dropped: Anvil can serve
        "latest" with the state of a block it is still mining under the previous block's header
        (about 1 read in 300 while blocks are mined back to back), and Aave's interest math then
        underflows. Only failing plans pay the extra round trip.
        """
        simulation = await self._simulate_once(bundle, behind)
        if isinstance(simulation, str):
            simulation = await self._simulate_once(bundle, behind)
        return simulation

    async def _simulate_once(
        self, bundle: list[tuple[str, str]], behind: dict[str, Any] | None
    ) -> tuple[int, int] | str | None:
        calls = [{"from": self.signer.address, "to": to, "data": data} for to, data in bundle]
        first = 0
        if behind is not None:
            calls.insert(0, {"from": behind["from"], "to": behind["to"], "data": behind["input"]})
            first = 1
        try:
            result = await self.client.request(
                "eth_simulateV1",
                [{"blockStateCalls": [{"calls": calls}], "validation": False}, "latest"],
            )
        except ContractRevertError as exc:
            return f"simulation reverted: {exc}"
        except RpcError as exc:
            if (
                exc.code in (-32601, -32602)
                or "not found" in str(exc).lower()
                or ("not supported" in str(exc).lower())
            ):
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
                what = "liquidationCall" if index == len(bundle) - 1 else "approve"
                detail = error.get("message", "reverted") if isinstance(error, dict) else "reverted"
                text = f"{what} reverted in simulation: {detail} {_revert_reason(call)}".strip()
                return RevertReason(text, revert_error(str(call.get("returnData", "0x"))))
        return sum(int(c["gasUsed"], 16) for c in results), int(results[-1]["gasUsed"], 16)

    async def gas_limit(self, to: str, calldata: str, simulated_gas: int) -> int:
        """A limit that covers gross gas: padded simulation, or the node's estimate if higher.

        eth_estimateGas searches for a limit that executes (refunds and 63/64 included) but may
        run at a stale timestamp on some nodes; the padded simulation covers that case.
        """
        padded = simulated_gas * SIM_GAS_PAD_NUM // SIM_GAS_PAD_DEN + SIM_GAS_PAD_ADD
        try:
            estimate = await self.client.estimate_gas(
                {"from": self.signer.address, "to": to, "data": calldata}
            )
        except RpcError:
            return padded
        return max(padded, estimate * GAS_PAD_NUM // GAS_PAD_DEN)

    async def _allowance(self, token: str) -> int:
        raw = await self.client.call(
            token, ERC20.encode("allowance", self.signer.address, self.pool)
        )
        return int(ERC20.decode("allowance", raw)[0])

    async def _eth_call_revert(self, to: str, calldata: str) -> str | None:
        """None if the exact call succeeds at the latest block, else the revert reason."""
        try:
            await self.client.call(to, calldata, "latest", sender=self.signer.address)
        except ContractRevertError as exc:
            return RevertReason(f"{exc} {exc.data or ''}".strip(), revert_error(exc.data))
        return None

    async def _approve(
        self, token: str, amount: int, *, release: asyncio.Lock | None = None
    ) -> None:
        """Approve and wait for the receipt (``release`` is let go once it is sent)."""
        _, receipt = await self._send(
            token,
            ERC20.encode("approve", self.pool, amount),
            APPROVE_GAS,
            purpose="approve",
            release=release,
        )
        if receipt is None or int(receipt["status"], 16) != 1:
            raise TransactionError(f"approve({amount}) on {token} did not succeed")

    async def _send(
        self,
        to: str,
        data: str,
        gas_limit: int,
        *,
        purpose: str,
        meta: dict[str, Any] | None = None,
        before: Sequence[Sent] = (),
        tip_cap: Fees | None = None,
        release: asyncio.Lock | None = None,
    ) -> tuple[str, dict[str, Any] | None]:
        """Send through the journaled sender and wait for the nonce to settle.

        ``before`` are this plan's transactions already sent at lower nonces (approvals): they
        are settled first, since a stuck one holds this one back. ``release`` is a lock the
        caller holds until this transaction is sent (not settled).
        """
        t0 = time.perf_counter()
        try:
            sent = await self.sender.send(
                to, data, gas_limit, purpose=purpose, meta=meta, tip_cap=tip_cap
            )
        finally:
            if release is not None:
                release.release()
        self.last_sent_at = time.perf_counter()
        for earlier in before:
            done = await self.sender.settle(earlier, timeout_s=self.receipt_timeout_s)
            if done.status != "mined":
                log.warning(
                    "approval_not_mined", nonce=earlier.nonce, status=done.status, note=done.note
                )
        settled = await self.sender.settle(sent, timeout_s=self.receipt_timeout_s)
        self.last_send_ms = round((self.last_sent_at - t0) * 1000, 2)
        self.last_include_ms = round((time.perf_counter() - self.last_sent_at) * 1000, 2)
        if settled.status == "dropped":
            raise TransactionError(f"nonce {sent.nonce}: {settled.note}")
        return settled.tx_hash or sent.hashes[-1], settled.receipt

    async def _winner(self, plan: LiquidationPlan, receipt: dict[str, Any]) -> str | None:
        """The competitor's transaction, if another liquidator got to the account first.

        Looks for a LiquidationCall of the same account by someone else in the blocks since we
        planned, or earlier in our own block.
        """
        block = int(receipt["blockNumber"], 16)
        index = int(receipt.get("transactionIndex", "0x0"), 16)
        logs = await self.client.get_logs(
            address=self.pool,
            topics=[LIQUIDATION_TOPIC, None, None, "0x" + "00" * 12 + plan.account[2:].lower()],
            from_block=min(plan.block + 1, block),
            to_block=block,
        )
        for entry in logs:
            decoded = POOL.decode_log(entry)
            if decoded is None or decoded[1]["liquidator"] == self.liquidator:
                continue
            if int(entry["blockNumber"], 16) < block or int(entry["transactionIndex"], 16) < index:
                return str(entry["transactionHash"])
        return None

    def _liquidation_amounts(
        self, receipt: dict[str, Any], plan: LiquidationPlan
    ) -> tuple[int, int]:
        for entry in receipt.get("logs", []):
            if entry.get("address", "").lower() != self.pool.lower():
                continue
            decoded = POOL.decode_log(entry)
            if decoded is None or decoded[0] != "LiquidationCall":
                continue
            args = decoded[1]
            if args["user"] == plan.account and args["liquidator"] == self.liquidator:
                return int(args["debtToCover"]), int(args["liquidatedCollateralAmount"])
        raise TransactionError(f"receipt {receipt.get('transactionHash')} has no LiquidationCall")


def _ceiling_meta(fee_ceiling: int | None) -> dict[str, Any]:
    return {} if fee_ceiling is None else {"fee_ceiling": fee_ceiling}


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 2)
