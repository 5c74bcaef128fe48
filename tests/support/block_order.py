"""Ordering a block of the test builder (tests.support.builder): a test double, not a product
feature.

Anvil orders a block by fee (max fee per gas) and nothing else. The builder needs other orders:
a held MEV-Share transaction followed right by its back-run (tests.support.mev_share), and
competing ``eth_sendBundle`` bundles by what they pay the coinbase (priority fees plus direct
transfers). Both are made here. A payment is measured by simulation: snapshot, the public pool
set aside, the transactions mined alone on the head, the coinbase's balance read before and
after, the chain and the pool restored. A chosen order is made by re-mining the newest block
(``anvil_reorg`` of depth 1) with the chosen transactions first and the rest of that block after
them in Anvil's order (a transaction invalid there is dropped by Anvil).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.support.builder import Bundle, TestBuilder


@dataclass
class Simulation:
    """Transactions mined alone on the head: their receipts (None: not included), what they
    paid the coinbase, and the block's base fee.
    """

    receipts: list[dict[str, Any] | None]
    paid: int
    base_fee: int

    @property
    def ok(self) -> bool:
        """Every transaction included and successful."""
        return all(r is not None and int(r["status"], 16) == 1 for r in self.receipts)

    def tip(self, index: int) -> int:
        """The priority fee the ``index``-th transaction paid (0 if not included)."""
        receipt = self.receipts[index]
        if receipt is None:
            return 0
        per_gas = int(receipt["effectiveGasPrice"], 16) - self.base_fee
        return per_gas * int(receipt["gasUsed"], 16)


async def simulate(
    builder: TestBuilder, raws: list[str], hashes: list[str], pool: list[str]
) -> Simulation:
    """Mine ``raws`` (hashes ``hashes``) alone, in this order, on the head; then undo it all."""
    rpc = builder._rpc
    snapshot = await rpc("evm_snapshot", [])
    try:
        await rpc("anvil_dropAllTransactions", [])
        before = int(await rpc("eth_getBalance", [builder.coinbase, "latest"]), 16)
        await rpc("evm_mine", [])
        await mine_first(builder, raws)
        block = await rpc("eth_getBlockByNumber", ["latest", False])
        receipts = [await rpc("eth_getTransactionReceipt", [h]) for h in hashes]
        after = int(await rpc("eth_getBalance", [builder.coinbase, "latest"]), 16)
        return Simulation(receipts, after - before, int(block["baseFeePerGas"], 16))
    finally:
        await builder._restore(snapshot, pool)


async def mine_first(builder: TestBuilder, raws: list[str]) -> None:
    """Re-mine the newest block with ``raws`` first, then the rest of it in its order."""
    if not raws:
        return
    rpc = builder._rpc
    block = await rpc("eth_getBlockByNumber", ["latest", False])
    rest = [await rpc("eth_getRawTransactionByHash", [h]) for h in block["transactions"]]
    await rpc("anvil_reorg", [1, [[raw, 0] for raw in [*raws, *rest]]])


async def rank(builder: TestBuilder, bundles: list[Bundle], pool: list[str]) -> list[Bundle]:
    """The ``eth_sendBundle`` bundles of ``bundles``, the best coinbase payer first, when two or
    more searchers compete (else none: Anvil's order is kept; one searcher's bundles, e.g. a
    keeper's nonces in a row, do not compete with each other). Each is simulated alone on the
    head; one that fails alone (it reverts, or needs another bundle's nonce first) ranks last,
    in the order received.
    """
    competing = [b for b in bundles if b.method == "eth_sendBundle"]
    if len(competing) < 2 or len({b.searcher for b in competing}) < 2:
        return []
    paid: list[tuple[int, int, Bundle]] = []
    for bundle in competing:
        sim = await simulate(builder, bundle.txs, bundle.hashes, pool)
        paid.append((sim.paid if sim.ok else -1, bundle.seq, bundle))
    paid.sort(key=lambda p: (-p[0], p[1]))
    return [bundle for _, _, bundle in paid]
