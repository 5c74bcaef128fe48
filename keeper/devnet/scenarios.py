"""Things done to a devnet: move a price feed, fund a keeper."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING

from keeper.chain.abi import Codec
from keeper.devnet.artifacts import npm_artifact
from keeper.devnet.deployer import Deployer, codec_of
from keeper.errors import DevnetError, RpcError
from keeper.protocols.aave_v3.market import ERC20, ORACLE, POOL, resolve_market

if TYPE_CHECKING:
    from collections.abc import Mapping

    from keeper.chain.client import ChainClient
    from keeper.devnet.aave_market import MarketAddresses

FEED = Codec.named("ManualAggregator")
# What a devnet keeper account gets to liquidate from, in whole tokens.
KEEPER_INVENTORY_WHOLE = {"WETH": 5_000, "USDC": 20_000_000, "WBTC": 300}


@dataclass(frozen=True)
class Shock:
    """A feed move that happened."""

    symbol: str
    asset: str
    feed: str
    old_answer: int
    new_answer: int
    block: int


async def find_asset(client: ChainClient, pool: str, symbol: str) -> str:
    """The reserve whose token has this symbol (case-insensitive)."""
    (assets,) = POOL.decode(
        "getReservesList", await client.call(pool, POOL.encode("getReservesList"))
    )
    for asset in assets:
        try:
            (sym,) = ERC20.decode("symbol", await client.call(asset, ERC20.encode("symbol")))
        except RpcError:
            continue
        if str(sym).lower() == symbol.lower():
            return str(asset)
    raise DevnetError(f"no reserve with symbol {symbol}")


async def shock_price(client: ChainClient, provider: str, symbol: str, pct: Decimal | int) -> Shock:
    """Move the asset's feed by ``pct`` percent (e.g. -30), as its owner."""
    pct = Decimal(pct)
    if pct <= -100:
        raise DevnetError("--pct must be above -100")
    market = await resolve_market(client, provider)
    asset = await find_asset(client, market.pool, symbol)
    (feed,) = ORACLE.decode(
        "getSourceOfAsset",
        await client.call(market.oracle, ORACLE.encode("getSourceOfAsset", asset)),
    )
    try:
        (old,) = FEED.decode("latestAnswer", await client.call(feed, FEED.encode("latestAnswer")))
        (owner,) = FEED.decode("owner", await client.call(feed, FEED.encode("owner")))
    except RpcError:
        raise DevnetError(f"the source of {symbol} ({feed}) is not a settable feed") from None
    new = int((Decimal(old) * (100 + pct) / 100).to_integral_value(rounding=ROUND_DOWN))
    await client.request("anvil_impersonateAccount", [owner])
    receipt = await Deployer(client).transact(owner, feed, FEED.encode("setAnswer", new))
    return Shock(symbol, asset, feed, int(old), new, int(receipt["blockNumber"], 16))


async def fund_account(
    client: ChainClient,
    assets: Mapping[str, str],
    who: str,
    amounts: Mapping[str, int],
    eth_wei: int = 100 * 10**18,
) -> None:
    """Give ``who`` native gas money and mint it devnet tokens ({symbol: token units})."""
    dep = Deployer(client)
    await dep.set_balance(who, eth_wei)
    token = codec_of(npm_artifact("MintableERC20"))
    await client.request("anvil_impersonateAccount", [who])
    for symbol, amount in amounts.items():
        await dep.call_fn(who, assets[symbol], token, "mint(address,uint256)", who, amount)
    await client.request("anvil_stopImpersonatingAccount", [who])


async def fund_keeper(
    client: ChainClient,
    market: MarketAddresses,
    who: str,
    whole_tokens: Mapping[str, int] = KEEPER_INVENTORY_WHOLE,
) -> None:
    """Fund a keeper account with gas money and an inventory of every listed token."""
    await fund_account(
        client,
        {s: a.address for s, a in market.assets.items()},
        who,
        {s: n * 10 ** market.assets[s].decimals for s, n in whole_tokens.items()},
    )
