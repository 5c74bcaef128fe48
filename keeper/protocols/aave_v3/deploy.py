"""Deploying our FlashLiquidator from the keeper's own key (so the keeper is its owner).

The same contract serves both execution modes: flash liquidations (it needs the Uniswap V3
router for the swap) and inventory liquidations through it (no router needed). After the
deployment the keeper approves every reserve of the market to the contract once (the standing
approvals inventory mode uses; the executor sends one itself for a reserve listed later), and
can send the contract ether for coinbase bids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from eth_abi.abi import encode
from eth_utils.address import is_hex_address, to_checksum_address

from keeper.chain.abi import load_artifact
from keeper.chain.erc20 import ERC20
from keeper.core.outcome import TxPurpose
from keeper.errors import ConfigError, TransactionError
from keeper.execution.deploy import ether_to_wei, fund_contract
from keeper.execution.fees import FeePolicy
from keeper.execution.journal_sqlite import SqliteJournal
from keeper.execution.sender import TxSender
from keeper.execution.signer import Signer
from keeper.execution.through_contract import APPROVE_GAS, MAX_UINT256
from keeper.keys import resolve_key
from keeper.protocols.aave_v3.connect import connect
from keeper.protocols.aave_v3.state_reader import read_reserve_list

if TYPE_CHECKING:
    from keeper.execution.transactions import Sent
    from keeper.settings import Settings

DEPLOY_GAS = 2_500_000
NO_ROUTER = "0x" + "00" * 20


@dataclass
class Deployed:
    """What ``deploy-liquidator`` did."""

    address: str
    approved: list[str] = field(default_factory=list)
    funded_wei: int = 0

    def as_json(self) -> dict[str, object]:
        """What the command prints: set ``flash_liquidator`` to the address."""
        return {
            "flash_liquidator": self.address,
            "approved": self.approved,
            "funded_wei": self.funded_wei,
        }


async def deploy_liquidator(
    settings: Settings, router: str | None, approve: bool = True, fund_eth: str = "0"
) -> Deployed:
    """Deploy FlashLiquidator(pool, router), approve the reserves to it, fund it; its address.

    ``router`` None: inventory liquidations only (flash mode needs the Uniswap V3 router).
    """
    fund_wei = ether_to_wei(fund_eth)
    if router is not None and not is_hex_address(router):
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
        router_address = NO_ROUTER if router is None else to_checksum_address(router)
        data = (
            artifact["bytecode"]
            + encode(["address", "address"], [market.pool, router_address]).hex()
        )
        sent = await sender.send("", data, DEPLOY_GAS, purpose=TxPurpose.DEPLOY_LIQUIDATOR)
        settled = await sender.settle(sent, timeout_s=settings.receipt_timeout_s)
        receipt = settled.receipt
        if settled.status != "mined" or receipt is None or receipt.contract_address is None:
            raise TransactionError(f"deployment {settled.status}: {settled.note}")
        out = Deployed(str(to_checksum_address(receipt.contract_address)))
        pending: list[tuple[str, Sent]] = []
        if approve:
            for asset in await read_reserve_list(client, market, receipt.block_number):
                call = ERC20.encode("approve", out.address, MAX_UINT256)
                pending.append(
                    (asset, await sender.send(asset, call, APPROVE_GAS, purpose=TxPurpose.APPROVE))
                )
        for asset, approval in pending:
            done = await sender.settle(approval, timeout_s=settings.receipt_timeout_s)
            if done.status != "mined":
                raise TransactionError(f"approve of {asset} {done.status}: {done.note}")
            out.approved.append(asset)
        await fund_contract(sender, out.address, fund_wei, settings.receipt_timeout_s)
        out.funded_wei = fund_wei
        return out
    finally:
        journal.close()
        await client.close()
