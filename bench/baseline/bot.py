"""The baseline: a liquidation bot built the way public Aave bots are built today.

Each new block it asks the Pool for ``getUserAccountData`` of every borrower it knows (found from
the Pool's ``Borrow`` events), in JSON-RPC batches of 200 sent concurrently, and liquidates every
account below health factor 1, largest debt first: the largest debt and the largest collateral by
oracle value (from ``getUserReserveData``), ``debtToCover`` = the whole debt of that asset within
its own balance (the Pool applies the close factor). Before sending, the exact call is tried with
``eth_call``; it is sent as a legacy (type 0) transaction at ``eth_gasPrice`` x 1.2, capped so the
tip over the base fee stays within the same budget as our keeper's (``max_priority_fee_gwei``,
``max_fee_gwei``). With ``--bid-share-bps`` it bids instead: the tip over the base fee is that
share of its expected profit per gas (the bonus on the debt the close factor lets it repay, within
the collateral, over 500k gas at ``--native-asset``'s price; ``bench/baseline/share.py``), capped
by the same budget. It pays from its own inventory: one unlimited ``approve`` per reserve at
start. It does not wait for its transactions to be mined, and does not send twice for an account
while one transaction for it is pending. ``--borrowers FILE --from-block N``: borrowers known at
block N (a line each, as from an indexer), then the Borrow events after N (the race at 100k).

Run: ``python -m bench.baseline.bot --rpc-url URL --provider ADDR`` with the key in
``BASELINE_PRIVATE_KEY``. One JSON line per event on stdout (``started``, ``block``, ``sent``,
``mined``); SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from eth_account import Account
from eth_utils.address import to_checksum_address

from bench.baseline.rpc import Rpc, RpcFailedError, emit
from bench.baseline.share import Pick, expected_profit, reserve_terms, share_price
from keeper.chain.abi import Codec

PROVIDER = Codec.named("aave_v3/IPoolAddressesProvider")
POOL = Codec.named("aave_v3/IPool")
ORACLE = Codec.named("aave_v3/IAaveOracle")
DATA = Codec.named("aave_v3/IPoolDataProvider")
ERC20 = Codec.named("aave_v3/IERC20Detailed")
WAD = 10**18
GWEI = 10**9
MAX_UINT = 2**256 - 1
BORROW_TOPIC = POOL.topic("Borrow")
LIQUIDATION_GAS = 1_200_000  # a fixed, generous limit, as such bots set (only gas used is paid)
APPROVE_GAS = 100_000
LOG_SPAN = 10_000
CONCURRENT_BATCHES = 4


@dataclass
class Bot:
    """State of the baseline bot."""

    rpc: Rpc
    key: str
    pool: str
    oracle: str
    data_provider: str
    assets: list[str]
    chain_id: int
    max_tip: int
    max_fee: int
    batch_size: int
    address: str = ""
    nonce: int = 0
    users: set[str] = field(default_factory=set)
    scanned_to: int = -1
    pending: dict[str, str] = field(default_factory=dict)  # account -> tx hash
    # Share mode (None: eth_gasPrice x 1.2): the tip is this share of the expected profit per gas.
    bid_share_bps: int | None = None
    native: str = ""  # the reserve whose price prices gas (share mode)
    terms: dict[str, tuple[int, int]] = field(default_factory=dict)  # asset -> decimals, bonus
    base_fee: int = 0

    def __post_init__(self) -> None:
        self.address = str(Account.from_key(self.key).address)

    async def load_terms(self) -> None:
        """Each reserve's decimals and liquidation bonus (share mode)."""
        self.terms = await reserve_terms(self.rpc, self.data_provider, self.assets)

    async def discover(self, to_block: int) -> None:
        """Borrowers from the Pool's Borrow events up to ``to_block``."""
        start = self.scanned_to + 1
        while start <= to_block:
            end = min(start + LOG_SPAN - 1, to_block)
            logs = await self.rpc.call(
                "eth_getLogs",
                [
                    {
                        "address": self.pool,
                        "topics": [BORROW_TOPIC],
                        "fromBlock": hex(start),
                        "toBlock": hex(end),
                    }
                ],
            )
            for entry in logs:
                self.users.add("0x" + entry["topics"][2][-40:])  # onBehalfOf (indexed)
            start = end + 1
        self.scanned_to = to_block

    async def gas_price(self) -> int:
        """eth_gasPrice x 1.2, with the tip over the base fee and the total within the caps."""
        price, block = await asyncio.gather(
            self.rpc.call("eth_gasPrice", []),
            self.rpc.call("eth_getBlockByNumber", ["latest", False]),
        )
        base = int(block.get("baseFeePerGas", "0x0"), 16)
        self.base_fee = base
        wanted = int(price, 16) * 12 // 10
        return min(wanted, base + self.max_tip, self.max_fee)

    async def send(self, to: str, data: str, gas: int, gas_price: int) -> str:
        """Sign a legacy transaction at the next nonce and broadcast it."""
        tx = {
            "chainId": self.chain_id,
            "nonce": self.nonce,
            "to": to_checksum_address(to),
            "data": data,
            "value": 0,
            "gas": gas,
            "gasPrice": gas_price,
        }
        signed = Account.sign_transaction(tx, self.key)
        tx_hash = await self.rpc.call(
            "eth_sendRawTransaction", ["0x" + signed.raw_transaction.hex()]
        )
        self.nonce += 1
        return str(tx_hash)

    async def approve_all(self) -> None:
        """One unlimited approval per reserve, at start; wait until mined."""
        self.nonce = int(
            await self.rpc.call("eth_getTransactionCount", [self.address, "pending"]), 16
        )
        price = await self.gas_price()
        hashes = [
            await self.send(asset, ERC20.encode("approve", self.pool, MAX_UINT), APPROVE_GAS, price)
            for asset in self.assets
        ]
        for tx_hash in hashes:
            while await self.rpc.call("eth_getTransactionReceipt", [tx_hash]) is None:  # noqa: ASYNC110 - polls the node
                await asyncio.sleep(0.1)

    async def health(self, block: int) -> list[tuple[str, int, int]]:
        """(account, health factor, debt) of every known borrower at ``block``."""
        users = sorted(self.users)
        calls = [
            (
                "eth_call",
                [{"to": self.pool, "data": POOL.encode("getUserAccountData", u)}, hex(block)],
            )
            for u in users
        ]
        chunks = [calls[i : i + self.batch_size] for i in range(0, len(calls), self.batch_size)]
        gate = asyncio.Semaphore(CONCURRENT_BATCHES)

        async def one(chunk: list[tuple[str, list[Any]]]) -> list[Any]:
            async with gate:
                return await self.rpc.batch(chunk)

        results = [r for part in await asyncio.gather(*(one(c) for c in chunks)) for r in part]
        out = []
        for user, raw in zip(users, results, strict=True):
            if isinstance(raw, RpcFailedError):
                continue
            _, debt, _, _, _, hf = POOL.decode("getUserAccountData", bytes.fromhex(raw[2:]))
            out.append((user, int(hf), int(debt)))
        return out

    async def pick_pair(self, user: str, hf: int, block: int) -> Pick | None:
        """The largest collateral and the largest debt by value, and the amount to cover."""
        calls = [
            (
                "eth_call",
                [
                    {"to": self.data_provider, "data": DATA.encode("getUserReserveData", a, user)},
                    hex(block),
                ],
            )
            for a in self.assets
        ]
        calls.append(
            (
                "eth_call",
                [
                    {"to": self.oracle, "data": ORACLE.encode("getAssetsPrices", self.assets)},
                    hex(block),
                ],
            )
        )
        calls.extend(
            ("eth_call", [{"to": a, "data": ERC20.encode("balanceOf", self.address)}, hex(block)])
            for a in self.assets
        )
        raw = await self.rpc.batch(calls)
        if any(isinstance(r, RpcFailedError) for r in raw):
            return None
        n = len(self.assets)
        (prices,) = ORACLE.decode("getAssetsPrices", bytes.fromhex(raw[n][2:]))
        best_coll, best_debt = (0, ""), (0, "")
        debt_amount: dict[str, int] = {}
        coll_amount: dict[str, int] = {}
        for asset, item, price in zip(self.assets, raw[:n], prices, strict=True):
            data = DATA.decode("getUserReserveData", bytes.fromhex(item[2:]))
            a_balance, stable, variable, collateral_on = data[0], data[1], data[2], data[8]
            coll_amount[asset] = a_balance if collateral_on else 0
            if collateral_on and a_balance * price > best_coll[0]:
                best_coll = (a_balance * price, asset)
            debt = stable + variable
            debt_amount[asset] = debt
            if debt * price > best_debt[0]:
                best_debt = (debt * price, asset)
        if not best_coll[1] or not best_debt[1]:
            return None
        balances = {
            a: int(ERC20.decode("balanceOf", bytes.fromhex(r[2:]))[0])
            for a, r in zip(self.assets, raw[n + 1 :], strict=True)
        }
        debt_asset = best_debt[1]
        cover = (
            MAX_UINT if balances[debt_asset] >= debt_amount[debt_asset] else balances[debt_asset]
        )
        if cover == 0:
            return None
        price_of = {a.lower(): int(p) for a, p in zip(self.assets, prices, strict=True)}
        coll = best_coll[1]
        profit = 0
        if self.terms:
            held = (coll_amount[coll], min(debt_amount[debt_asset], balances[debt_asset]))
            profit = expected_profit(
                self.terms, price_of, (coll, debt_asset), held, debt_amount[debt_asset], hf
            )
        return Pick(coll, debt_asset, cover, profit, price_of.get(self.native.lower(), 0))

    async def liquidate(
        self, user: str, hf: int, block: int, head_seen_at: float, price: int
    ) -> None:
        """Choose the pair, try the call, send it."""
        pick = await self.pick_pair(user, hf, block)
        if pick is None:
            return
        if self.bid_share_bps is not None:
            price = share_price(pick, self.bid_share_bps, self.base_fee, self.max_tip, self.max_fee)
        data = POOL.encode("liquidationCall", pick.collateral, pick.debt, user, pick.cover, False)
        try:
            await self.rpc.eth_call(self.pool, data, "latest", sender=self.address)
        except RpcFailedError as exc:
            emit("simulation_failed", block=block, user=user, error=str(exc)[:200])
            return
        tx_hash = await self.send(self.pool, data, LIQUIDATION_GAS, price)
        self.pending[user] = tx_hash
        emit(
            "sent",
            block=block,
            user=user,
            tx_hash=tx_hash,
            head_seen_at=round(head_seen_at, 6),
            sent_at=round(time.time(), 6),
            gas_price=price,
            expected_profit_base=pick.profit_base,
        )

    async def settle(self) -> None:
        """Forget accounts whose transaction was mined."""
        if not self.pending:
            return
        items = list(self.pending.items())
        receipts = await self.rpc.batch([("eth_getTransactionReceipt", [h]) for _, h in items])
        for (user, tx_hash), receipt in zip(items, receipts, strict=True):
            if isinstance(receipt, dict):
                del self.pending[user]
                emit("mined", user=user, tx_hash=tx_hash, status=int(receipt["status"], 16))

    async def on_block(self, block: int, head_seen_at: float) -> None:
        """One cycle: discover, scan everyone, liquidate everything below 1."""
        await self.settle()
        await self.discover(block)
        t0 = time.perf_counter()
        accounts = await self.health(block)
        scan_ms = round((time.perf_counter() - t0) * 1000, 1)
        liquidatable = sorted(
            ((u, hf, d) for u, hf, d in accounts if hf < WAD and d > 0 and u not in self.pending),
            key=lambda x: x[2],
            reverse=True,
        )
        emit(
            "block",
            block=block,
            head_seen_at=round(head_seen_at, 6),
            accounts=len(accounts),
            liquidatable=len(liquidatable),
            scan_ms=scan_ms,
            requests=self.rpc.requests,
        )
        if liquidatable:
            price = await self.gas_price()
            for user, hf, _ in liquidatable:
                await self.liquidate(user, hf, block, head_seen_at, price)


async def run(args: argparse.Namespace, stop: asyncio.Event) -> None:
    """Set up, then one cycle per new block until ``stop``."""
    key = os.environ["BASELINE_PRIVATE_KEY"]
    async with aiohttp.ClientSession() as session:
        rpc = Rpc(args.rpc_url, session)
        pool = "0x" + (await rpc.eth_call(args.provider, PROVIDER.encode("getPool"))).hex()[-40:]
        oracle = (
            "0x"
            + (await rpc.eth_call(args.provider, PROVIDER.encode("getPriceOracle"))).hex()[-40:]
        )
        data = (
            "0x"
            + (await rpc.eth_call(args.provider, PROVIDER.encode("getPoolDataProvider"))).hex()[
                -40:
            ]
        )
        (assets,) = POOL.decode(
            "getReservesList", await rpc.eth_call(pool, POOL.encode("getReservesList"))
        )
        bot = Bot(
            rpc,
            key,
            pool,
            oracle,
            data,
            [str(a) for a in assets],
            int(await rpc.call("eth_chainId", []), 16),
            max_tip=int(args.max_priority_fee_gwei * GWEI),
            max_fee=int(args.max_fee_gwei * GWEI),
            batch_size=args.batch_size,
            bid_share_bps=args.bid_share_bps,
            native=args.native_asset or "",
        )
        if args.bid_share_bps is not None:
            if not args.native_asset:
                raise SystemExit("--bid-share-bps needs --native-asset (the reserve pricing gas)")
            await bot.load_terms()
        await bot.approve_all()
        last = int(await rpc.call("eth_blockNumber", []), 16)
        if args.borrowers is not None:
            text = await asyncio.to_thread(Path(args.borrowers).read_text, encoding="utf-8")
            bot.users = {line.strip().lower() for line in text.splitlines() if line.strip()}
            bot.scanned_to = args.from_block
        await bot.discover(last)
        emit("started", address=bot.address, borrowers=len(bot.users), block=last)
        while not stop.is_set():
            head_seen_at = time.time()
            head = int(await rpc.call("eth_blockNumber", []), 16)
            if head > last:
                last = head
                await bot.on_block(head, head_seen_at)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), args.poll_interval_s)


def main() -> None:
    """Parse arguments, run until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rpc-url", required=True)
    parser.add_argument("--provider", required=True, help="the PoolAddressesProvider")
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--poll-interval-s", type=float, default=0.1)
    parser.add_argument("--max-priority-fee-gwei", type=float, default=3.0)
    parser.add_argument("--max-fee-gwei", type=float, default=500.0)
    parser.add_argument(
        "--bid-share-bps",
        type=int,
        default=None,
        help="tip = this share of the expected profit per gas, capped (default: gasPrice x 1.2)",
    )
    parser.add_argument("--native-asset", default=None, help="the reserve that prices gas")
    parser.add_argument("--borrowers", default=None, help="a file of borrowers known at start")
    parser.add_argument(
        "--from-block", type=int, default=-1, help="the block --borrowers is known at"
    )
    args = parser.parse_args()

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run(args, stop)

    asyncio.run(runner())


if __name__ == "__main__":
    main()
