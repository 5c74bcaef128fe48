"""The actors of an SVR update in tests: the SVR node's account and forwarder, and a searcher.

Test code, not a product feature: an SVR update is ``forward(aggregator,
transmitSecondary(report))`` (contracts/SvrForwarder.sol, contracts/ManualAggregator.sol) that
the node's account sends as a private transaction to the test builder (tests.support.builder),
which publishes its hint; searchers answer with ``mev_sendBundle``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eth_account import Account

from keeper.chain.abi import Codec
from tests.support.ocr2 import report

if TYPE_CHECKING:
    import aiohttp
    from eth_account.signers.local import LocalAccount

    from keeper.chain.client import ChainClient
    from keeper.submission.signing import SearcherIdentity
    from tests.support.builder import TestBuilder

GWEI = 10**9
FEED = Codec.named("ManualAggregator")
FORWARDER = Codec.named("SvrForwarder")
ALL_HINTS = ["calldata", "contract_address", "function_selector", "hash"]


@dataclass
class Svr:
    """One Anvil with the SVR contracts, the builder in front of it, and the actors."""

    builder: TestBuilder
    client: ChainClient
    http: aiohttp.ClientSession
    aggregator: str
    forwarder: str
    node: LocalAccount  # the SVR node's account, owner of the forwarder
    identity: SearcherIdentity

    async def signed(
        self, account: LocalAccount, to: str, data: str = "0x", *, tip_gwei: int = 1, value: int = 0
    ) -> tuple[str, str]:
        """A raw EIP-1559 transaction and its hash (the account's next nonce)."""
        nonce = await self.client.get_transaction_count(account.address, "latest")
        tx: dict[str, Any] = {"type": 2, "chainId": 31337, "nonce": nonce, "to": to}
        tx |= {"value": value, "data": data, "gas": 300_000, "maxFeePerGas": (50 + tip_gwei) * GWEI}
        signed = account.sign_transaction(tx | {"maxPriorityFeePerGas": tip_gwei * GWEI})
        return "0x" + bytes(signed.raw_transaction).hex(), "0x" + bytes(signed.hash).hex()

    async def update(self, observations: list[int], hints: list[str] | None = None) -> str:
        """Send an SVR update privately (with these hints); its hash."""
        inner = FEED.encode(
            "transmitSecondary", [b"\x00" * 32] * 3, report(observations), [], [], b"\x00" * 32
        )
        data = FORWARDER.encode("forward", self.aggregator, bytes.fromhex(inner[2:]))
        raw, tx_hash = await self.signed(self.node, self.forwarder, data)
        spec: dict[str, Any] = {"tx": raw, "maxBlockNumber": hex(self.builder.head + 5)}
        if hints is not None:
            spec["preferences"] = {"privacy": {"hints": hints}}
        status, answer = await self.call("eth_sendPrivateTransaction", [spec])
        assert status == 200 and answer["result"] == tx_hash, answer
        return tx_hash

    async def backrun(
        self, target: str, raw: str, first: int | None = None, last: int | None = None
    ) -> tuple[int, dict[str, Any]]:
        """``mev_sendBundle`` [target, raw] for blocks first..last (default: the next one)."""
        block = first if first is not None else self.builder.head + 1
        inclusion = {"block": hex(block)} | ({"maxBlock": hex(last)} if last else {})
        body = [{"hash": target}, {"tx": raw, "canRevert": False}]
        spec = {"version": "v0.1", "inclusion": inclusion, "body": body, "validity": {}}
        return await self.call("mev_sendBundle", [spec | {"privacy": {"hints": ["hash"]}}])

    async def call(
        self, method: str, params: list[Any], identity: SearcherIdentity | None = None
    ) -> tuple[int, dict[str, Any]]:
        """A signed JSON-RPC request to the builder: HTTP status and answer."""
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        headers = {"Content-Type": "application/json"}
        headers |= (identity or self.identity).header(body.encode())
        async with self.http.post(self.builder.url, data=body.encode(), headers=headers) as resp:
            return resp.status, await resp.json()

    async def receipt(self, tx_hash: str) -> dict[str, Any] | None:
        answer: dict[str, Any] | None = await self.client.request(
            "eth_getTransactionReceipt", [tx_hash]
        )
        return answer

    async def answer(self) -> int:
        (value,) = FEED.decode(
            "latestAnswer", await self.client.call(self.aggregator, FEED.encode("latestAnswer"))
        )
        return int(value)

    async def funded(self) -> LocalAccount:
        account: LocalAccount = Account.create()
        await self.client.request("anvil_setBalance", [account.address, hex(10**20)])
        return account
