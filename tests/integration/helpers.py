"""Small on-chain helpers shared by the integration tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from keeper.protocols.aave_v3.market import ERC20, POOL
from keeper.protocols.aave_v3.reads import AccountData

if TYPE_CHECKING:
    from keeper.chain.client import ChainClient


async def account_data(
    client: ChainClient, pool: str, account: str, block: int | str = "latest"
) -> AccountData:
    raw = await client.call(pool, POOL.encode("getUserAccountData", account), block)
    return AccountData(account, *(int(v) for v in POOL.decode("getUserAccountData", raw)))


async def balance_of(
    client: ChainClient, token: str, holder: str, block: int | str = "latest"
) -> int:
    raw = await client.call(token, ERC20.encode("balanceOf", holder), block)
    return int(ERC20.decode("balanceOf", raw)[0])


async def liquidation_events(
    client: ChainClient, pool: str, from_block: int
) -> list[dict[str, Any]]:
    head = await client.block_number()
    logs = await client.get_logs(
        address=pool, topics=[POOL.topic("LiquidationCall")], from_block=from_block, to_block=head
    )
    out = []
    for entry in logs:
        decoded = POOL.decode_log(entry)
        assert decoded is not None
        out.append(decoded[1])
    return out
