"""Send one approve through the journaled sender and die: ``before`` the broadcast or ``after``.

python -m tests.support.crash_send URL KEY JOURNAL TOKEN SPENDER before|after
"""

from __future__ import annotations

import asyncio
import os
import sys
from decimal import Decimal

from pydantic import SecretStr

from keeper.chain.client import ChainClient
from keeper.core.outcome import TxPurpose
from keeper.execution.fees import FeePolicy
from keeper.execution.journal_sqlite import SqliteJournal
from keeper.execution.sender import TxSender
from keeper.execution.signer import Signer
from keeper.protocols.aave_v3.market import ERC20


async def main(url: str, key: str, journal: str, token: str, spender: str, when: str) -> None:
    """Die where told, as a kill -9 would: no cleanup, no flush beyond what was committed."""
    client = ChainClient(url)
    sender = TxSender(
        client,
        Signer(SecretStr(key)),
        SqliteJournal(journal, await client.chain_id()),
        FeePolicy(Decimal(500), Decimal(5)),
        chain_id=await client.chain_id(),
    )
    if when == "before":

        async def die(raw: bytes) -> str:
            os._exit(9)

        client.send_raw_transaction = die  # type: ignore[method-assign]
    await sender.send(
        token, ERC20.encode("approve", spender, 12345), 100_000, purpose=TxPurpose.APPROVE
    )
    os._exit(9)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:7]))
