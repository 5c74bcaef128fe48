"""Sending devnet transactions from Anvil's unlocked or impersonated accounts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eth_utils.address import to_checksum_address

from keeper.chain.abi import Codec
from keeper.errors import DevnetError, RpcError

if TYPE_CHECKING:
    from keeper.chain.client import ChainClient
    from keeper.devnet.artifacts import Artifact

# Anvil's eth_estimateGas runs at a timestamp where Aave skips index accrual and under-estimates,
# so devnet transactions carry explicit, generous limits instead.
DEPLOY_GAS = 15_000_000
CALL_GAS = 2_000_000


class Deployer:
    """Sends transactions on an automining devnet and checks every receipt."""

    def __init__(self, client: ChainClient) -> None:
        self.client = client
        self.sent = 0

    async def impersonate_all(self) -> None:
        """Let any address send (borrowers are plain addresses without keys)."""
        await self.client.request("anvil_autoImpersonateAccount", [True])

    async def set_balance(self, address: str, wei: int) -> None:
        """Give an address native currency for gas."""
        await self.client.request("anvil_setBalance", [address, hex(wei)])

    async def transact(
        self, sender: str, to: str | None, data: str, *, gas: int = CALL_GAS, value: int = 0
    ) -> dict[str, Any]:
        """Send one transaction and return its receipt; a revert raises DevnetError."""
        tx: dict[str, Any] = {"from": sender, "data": data, "gas": hex(gas), "value": hex(value)}
        if to is not None:
            tx["to"] = to
        try:
            tx_hash = await self.client.request("eth_sendTransaction", [tx], retry=False)
        except RpcError as exc:
            raise DevnetError(f"transaction to {to or 'new contract'} failed: {exc}") from None
        self.sent += 1
        receipt = await self.client.get_receipt(tx_hash)
        if receipt is None:
            receipt = await self.client.wait_for_receipt(tx_hash, timeout_s=30, poll_s=0.002)
        if receipt is None:
            raise DevnetError(f"no receipt for {tx_hash}: is the devnet mining?")
        if int(receipt["status"], 16) != 1:
            raise DevnetError(f"transaction {tx_hash} to {to or 'new contract'} reverted")
        return receipt

    async def deploy(
        self,
        sender: str,
        artifact: Artifact,
        args: list[Any] | None = None,
        libraries: dict[str, str] | None = None,
    ) -> str:
        """Deploy a contract and return its address."""
        receipt = await self.transact(
            sender, None, artifact.deploy_data(args or [], libraries), gas=DEPLOY_GAS
        )
        address = receipt.get("contractAddress")
        if not address:
            raise DevnetError(f"{artifact.name}: deployment receipt has no contract address")
        return str(to_checksum_address(address))

    async def call_fn(
        self, sender: str, to: str, codec: Codec, fn: str, *args: Any, gas: int = CALL_GAS
    ) -> dict[str, Any]:
        """Send ``fn(*args)`` to ``to``."""
        return await self.transact(sender, to, codec.encode(fn, *args), gas=gas)

    async def read(self, to: str, codec: Codec, fn: str, *args: Any) -> tuple[Any, ...]:
        """eth_call ``fn(*args)`` at the latest block."""
        return codec.decode(fn, await self.client.call(to, codec.encode(fn, *args)))


def codec_of(artifact: Artifact) -> Codec:
    """The codec for an artifact's ABI."""
    return Codec(artifact.abi)
