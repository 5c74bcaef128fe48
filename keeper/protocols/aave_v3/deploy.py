"""Deploying our FlashLiquidator from the keeper's own key (so the keeper is its owner)."""

from __future__ import annotations

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
from keeper.protocols.aave_v3.connect import connect

if TYPE_CHECKING:
    from keeper.settings import Settings

DEPLOY_GAS = 2_000_000


async def deploy_liquidator(settings: Settings, router: str) -> str:
    """Deploy FlashLiquidator(pool, router); return its address."""
    if not is_hex_address(router):
        raise ConfigError("--router: expected the Uniswap V3 SwapRouter address (0x + 40 hex)")
    client, chain_id, market = await connect(settings)
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
        artifact = load_artifact("FlashLiquidator")
        data = (
            artifact["bytecode"]
            + encode(["address", "address"], [market.pool, to_checksum_address(router)]).hex()
        )
        sent = await sender.send("", data, DEPLOY_GAS, purpose=TxPurpose.DEPLOY_LIQUIDATOR)
        settled = await sender.settle(sent, timeout_s=settings.receipt_timeout_s)
        receipt = settled.receipt
        if settled.status != "mined" or receipt is None or receipt.contract_address is None:
            raise TransactionError(f"deployment {settled.status}: {settled.note}")
        return str(to_checksum_address(receipt.contract_address))
    finally:
        journal.close()
        await client.close()
