"""The test builder ranks competing eth_sendBundle bundles by coinbase payment (tests.support.
block_order), on a real Anvil.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from eth_account import Account
from pydantic import SecretStr

from keeper.chain.client import ChainClient
from keeper.localnode.anvil import Anvil
from keeper.submission.signing import SearcherIdentity
from tests.support.builder import TestBuilder

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

pytestmark = pytest.mark.integration
GWEI = 10**9
FIRST_CALL_WINS = "0x60005415600b57600080fd5b600160005500"  # reverts once slot 0 is set
PAYS_COINBASE = "0x600060006000600034415af100"  # sends msg.value to block.coinbase
PRIZE = "0x" + "77" * 20
PAYER = "0x" + "71" * 20


async def _funded(client: ChainClient) -> LocalAccount:
    account: LocalAccount = Account.create()
    await client.request("anvil_setBalance", [account.address, hex(10**20)])
    return account


def _signed(
    account: LocalAccount, to: str, nonce: int, *, tip_gwei: int = 1, value: int = 0
) -> tuple[str, str]:
    tx: dict[str, Any] = {"type": 2, "chainId": 31337, "nonce": nonce, "to": to, "data": "0x"}
    tx |= {"value": value, "gas": 100_000, "maxFeePerGas": (50 + tip_gwei) * GWEI}
    signed = account.sign_transaction(tx | {"maxPriorityFeePerGas": tip_gwei * GWEI})
    return "0x" + bytes(signed.raw_transaction).hex(), "0x" + bytes(signed.hash).hex()


async def _send_bundle(http: aiohttp.ClientSession, builder: TestBuilder, txs: list[str]) -> None:
    identity = SearcherIdentity(SecretStr(Account.create().key.hex()))
    spec = {"txs": txs, "blockNumber": hex(builder.head + 1)}
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_sendBundle", "params": [spec]})
    headers = {"Content-Type": "application/json"} | identity.header(body.encode())
    async with http.post(builder.url, data=body.encode(), headers=headers) as resp:
        assert resp.status == 200 and "result" in await resp.json()


@pytest.mark.asyncio
async def test_a_direct_coinbase_payment_outranks_a_higher_fee():
    """Two bundles race for one prize (the first call wins, the second reverts): a rival's call
    at a 5 gwei tip (the higher max fee: Anvil alone would put it first) and ours, the call at
    1 gwei followed by 0.01 ETH sent to block.coinbase. Ours pays the coinbase more, lands first
    and whole; the rival, reverting behind it, is dropped and never mined.
    """
    with Anvil() as anvil:
        async with (
            TestBuilder(anvil.url) as builder,
            ChainClient(builder.url) as client,
            aiohttp.ClientSession() as http,
        ):
            await client.request("anvil_setCode", [PRIZE, FIRST_CALL_WINS])
            await client.request("anvil_setCode", [PAYER, PAYS_COINBASE])
            ours, rival = await _funded(client), await _funded(client)
            rival_raw, rival_hash = _signed(rival, PRIZE, 0, tip_gwei=5)
            call_raw, call_hash = _signed(ours, PRIZE, 0)
            pay_raw, pay_hash = _signed(ours, PAYER, 1, value=10**16)
            await _send_bundle(http, builder, [rival_raw])
            await _send_bundle(http, builder, [call_raw, pay_raw])
            built = await builder.build()
            assert [b.hashes for b in built.landed] == [[call_hash, pay_hash]]
            assert [b.hashes for b in built.reverting] == [[rival_hash]]
            receipts = [
                await client.request("eth_getTransactionReceipt", [h])
                for h in (call_hash, pay_hash)
            ]
            assert [r["transactionIndex"] for r in receipts] == ["0x0", "0x1"]
            await builder.build()
            assert await client.request("eth_getTransactionReceipt", [rival_hash]) is None


@pytest.mark.asyncio
async def test_bundles_of_one_sender_with_consecutive_nonces_all_land_in_order():
    """Three bundles of one sender (nonces 0, 1, 2: the later ones cannot run alone) and a
    public transaction: all land in one block, the bundles in nonce order.
    """
    with Anvil() as anvil:
        async with (
            TestBuilder(anvil.url) as builder,
            ChainClient(builder.url) as client,
            aiohttp.ClientSession() as http,
        ):
            sender, public = await _funded(client), await _funded(client)
            signed = [_signed(sender, PRIZE, nonce, tip_gwei=3 - nonce) for nonce in range(3)]
            for raw, _ in signed:
                await _send_bundle(http, builder, [raw])
            pub_raw, pub_hash = _signed(public, PRIZE, 0, tip_gwei=9)
            await client.request("eth_sendRawTransaction", [pub_raw])
            built = await builder.build()
            assert [b.hashes for b in built.landed] == [[h] for _, h in signed]
            indices = []
            for tx_hash in [h for _, h in signed] + [pub_hash]:
                receipt = await client.request("eth_getTransactionReceipt", [tx_hash])
                assert receipt is not None and receipt["blockNumber"] == hex(built.number)
                indices.append(int(receipt["transactionIndex"], 16))
            assert indices[:3] == sorted(indices[:3])
