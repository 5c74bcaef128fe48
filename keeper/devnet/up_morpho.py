"""``keeper devnet up --protocol morpho_blue``: the Morpho Blue devnet world, and what it prints.

Morpho 1.0.0 (its own bytecode), every devnet market (``OracleMock``-priced and feed-priced,
keeper/devnet/morpho_spec.py), borrowers near their LLTV, Uniswap V3 pools per pair, and a
keeper account funded with gas money and an inventory of every token. Morpho is the first
contract Anvil's account 0 deploys, so it has the same address on every fresh devnet.
"""

from __future__ import annotations

from typing import Any

from keeper.chain.client import ChainClient
from keeper.devnet.morpho_world import MorphoWorld, build_morpho_world
from keeper.devnet.scenarios import fund_account
from keeper.localnode.anvil import DEV_KEYS

KEEPER_INVENTORY_USD = 10_000_000  # of every token, at its devnet price


async def prepare_morpho(url: str, borrowers: int, seed: int, fund: str) -> MorphoWorld:
    """Deploy the Morpho world on the node at ``url`` and fund the keeper account ``fund``."""
    async with ChainClient(url) as client:
        world = await build_morpho_world(client, borrowers=borrowers, seed=seed)
        tokens = world.deployment.tokens
        await fund_account(
            client,
            {s: t.address for s, t in tokens.items()},
            fund,
            {s: KEEPER_INVENTORY_USD * 10**8 * 10**t.decimals // t.usd for s, t in tokens.items()},
        )
        return world


def morpho_info(url: str, world: MorphoWorld, fund: str, *, default_fund: bool) -> dict[str, Any]:
    """What ``devnet up`` prints for the Morpho world (JSON-able)."""
    d = world.deployment
    uni = world.uniswap
    return {
        "rpc_url": url,
        "protocol": "morpho_blue",
        "morpho": d.morpho,
        "start_block": d.block,
        "irm": d.irm,
        "tokens": {s: {"address": t.address, "decimals": t.decimals} for s, t in d.tokens.items()},
        "markets": [
            {
                "label": m.label,
                "id": m.id,
                "oracle": m.params.oracle,
                "oracle_kind": m.oracle.value,
                "lltv": str(m.params.lltv),
            }
            for m in d.markets
        ],
        "feeds": {
            f.label: {"address": f.address, "aggregator": f.aggregator, "decimals": f.decimals}
            for f in d.feeds.values()
        },
        "uniswap_v3": None
        if uni is None
        else {"factory": uni.factory, "router": uni.router, "quoter": uni.quoter},
        "borrowers": len(world.borrowers),
        "funded_keeper": fund,
        "funded_keeper_key": DEV_KEYS[1] if default_fund else None,
    }
