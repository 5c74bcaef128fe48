"""Deploying one of our contracts from the keeper's own key (so the keeper is its owner).

Protocol-neutral: the protocol package names the artifact and its constructor arguments
(``keeper.protocols.<name>.deploy``); this sends the creation through the journaled sender.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from eth_abi.abi import encode
from eth_utils.address import is_hex_address, to_checksum_address

from keeper.chain.abi import load_artifact
from keeper.core.outcome import TxPurpose
from keeper.errors import ConfigError, TransactionError
from keeper.execution.fees import FeePolicy
from keeper.execution.journal_sqlite import SqliteJournal
from keeper.execution.sender import TxSender
from keeper.execution.signer import Signer
from keeper.keys import resolve_key

if TYPE_CHECKING:
    from keeper.chain.client import ChainClient
    from keeper.settings import Settings

DEPLOY_GAS = 2_000_000
FUND_GAS = 60_000


def ether_to_wei(text: str) -> int:
    """``--fund-eth``: an amount of ether (ConfigError naming the flag otherwise)."""
    try:
        wei = int(Decimal(text) * 10**18)
    except InvalidOperation:
        wei = -1
    if wei < 0:
        raise ConfigError("--fund-eth: expected an amount of ether, e.g. 0.5")
    return wei


async def fund_contract(sender: TxSender, address: str, fund_wei: int, timeout_s: float) -> None:
    """Send ``fund_wei`` to our contract (its float for coinbase bids); nothing when 0."""
    if fund_wei <= 0:
        return
    funding = await sender.send(address, "0x", FUND_GAS, purpose=TxPurpose.OTHER, value=fund_wei)
    done = await sender.settle(funding, timeout_s=timeout_s)
    if done.status != "mined":
        raise TransactionError(f"funding {done.status}: {done.note}")


def checked_router(router: str) -> str:
    """The ``--router`` argument, checksummed; a clear error when it is not an address."""
    if not is_hex_address(router):
        raise ConfigError("--router: expected the Uniswap V3 SwapRouter address (0x + 40 hex)")
    return str(to_checksum_address(router))


async def deploy_own_contract(
    settings: Settings,
    client: ChainClient,
    chain_id: int,
    artifact: str,
    args: list[str],
    fund_wei: int = 0,
) -> str:
    """Deploy ``contracts_abi/<artifact>`` with address constructor ``args``; its address.

    ``fund_wei``: ether then sent to the contract (its float for coinbase bids).
    """
    journal = SqliteJournal(settings.journal_path, chain_id)
    try:
        sender = TxSender(
            client,
            Signer(resolve_key(settings)),
            journal,
            FeePolicy(
                settings.max_fee_gwei, settings.max_priority_fee_gwei, settings.priority_fee_gwei
            ),
            chain_id=chain_id,
        )
        await sender.reconcile(timeout_s=settings.receipt_timeout_s)
        data = load_artifact(artifact)["bytecode"] + encode(["address"] * len(args), args).hex()
        sent = await sender.send("", data, DEPLOY_GAS, purpose=TxPurpose.DEPLOY_LIQUIDATOR)
        settled = await sender.settle(sent, timeout_s=settings.receipt_timeout_s)
        receipt = settled.receipt
        if settled.status != "mined" or receipt is None or receipt.contract_address is None:
            raise TransactionError(f"deployment {settled.status}: {settled.note}")
        address = str(to_checksum_address(receipt.contract_address))
        await fund_contract(sender, address, fund_wei, settings.receipt_timeout_s)
        return address
    finally:
        journal.close()
