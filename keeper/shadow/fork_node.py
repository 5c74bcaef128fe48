"""The dry-run fork: a local Anvil forked from the configured node, where the keeper sends.

The fork is a plain Anvil on 127.0.0.1 turned into a fork with ``anvil_reset`` over loopback
JSON-RPC, so the node URL (and any API key in it) never appears on a command line. Before the
keeper acts on a block it re-forks at that block, so every simulated liquidation starts from the
real chain's state. The real node only ever sees the reads Anvil makes to build its state.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import structlog

from keeper.chain.client import ChainClient
from keeper.localnode.anvil import Anvil, AnvilOptions

if TYPE_CHECKING:
    from pathlib import Path

    from keeper.settings import Settings

log = structlog.get_logger(__name__)
GAS_MONEY_WEI = 1_000 * 10**18


class ForkNode:
    """An Anvil fork of the configured node, re-forked block by block."""

    def __init__(self, settings: Settings, chain_id: int, binary: Path | None = None) -> None:
        self._url = settings.rpc_url.get_secret_value()
        self._anvil = Anvil(AnvilOptions(chain_id=chain_id, accounts=1, binary=binary))
        self._timeout_s = settings.rpc_timeout_s
        self.client: ChainClient | None = None
        self.block = -1

    async def start(self, block: int, fund: str) -> ChainClient:
        """Start the fork at ``block``; give ``fund`` gas money there (only there)."""
        await asyncio.to_thread(self._anvil.start)
        self.client = ChainClient(self._anvil.url, timeout_s=max(30.0, self._timeout_s), retry_s=0)
        self._fund = fund
        await self.reset(block)
        log.info("dry_run_fork_started", fork=self._anvil.url, block=block)
        return self.client

    async def reset(self, block: int) -> None:
        """Re-fork at ``block`` (dropping what the keeper did on the previous fork)."""
        if self.client is None:
            raise RuntimeError("fork not started")
        if block == self.block:
            return
        await self.client.request(
            "anvil_reset",
            [{"forking": {"jsonRpcUrl": self._url, "blockNumber": block}}],
            retry=False,
        )
        await self.client.request("anvil_setBalance", [self._fund, hex(GAS_MONEY_WEI)])
        self.block = block

    async def stop(self) -> None:
        """Close the client and stop Anvil."""
        if self.client is not None:
            await self.client.close()
        await asyncio.to_thread(self._anvil.stop)
