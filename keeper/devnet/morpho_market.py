"""A Morpho Blue devnet: Morpho 1.0.0 compiled from its own source, several markets, borrowers.

The contracts come from ``contracts/build_morpho_blue.js`` (cached under ``.cache/``, compiled
on first use when missing; keeper/devnet/artifacts.py): ``Morpho`` and the package's own
``OracleMock`` (a settable 36-decimal price) and ``IrmMock`` (borrow rate = utilisation per
year, so the rate moves with every supply, borrow and repayment). Tokens are the Aave mocks'
``MintableERC20`` (they carry decimals and symbols, which Morpho's ``ERC20Mock`` does not).

The markets (keeper/devnet/morpho_spec.py) differ in LLTV and decimals: an 18/6 pair (WETH
collateral, USDC loan, with a 10% fee so accruals mint fee shares), an 8/18 pair (WBTC
collateral, DAI loan), an 18/18 pair near 1:1 at 94.5% LLTV and a 6/18 pair, all priced by
``OracleMock``; and two priced by feeds through an oracle of the MorphoChainlinkOracleV2 shape
(``morpho_feeds.py``): WBTC/USDC (8/6) and wstETH/USDC (18/6, two base feeds). Morpho's owner is
the admin; every step follows the deployment in MORPHO_BLUE_NOTES: ``Morpho(owner)``,
``enableIrm``, ``enableLltv``, ``createMarket``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from keeper.devnet.artifacts import MORPHO_BLUE, ensure_build, morpho_artifact, npm_artifact
from keeper.devnet.deployer import Deployer, codec_of
from keeper.devnet.morpho_feeds import DevFeed, deploy_feed_oracle, deploy_feeds
from keeper.devnet.morpho_spec import MARKETS, TOKENS, MarketSpec, OracleKind, oracle_price
from keeper.errors import DevnetError
from keeper.protocols.morpho_blue.types import MarketParams

if TYPE_CHECKING:
    from collections.abc import Sequence

    from keeper.chain.abi import Codec


@dataclass(frozen=True)
class DevToken:
    """One devnet token."""

    symbol: str
    address: str
    decimals: int
    usd: int  # price in USD with 8 decimals, what the oracles are derived from


@dataclass(frozen=True)
class DevMarket:
    """One devnet market: its parameters and its oracle's price."""

    label: str
    params: MarketParams
    price: int  # at deployment
    oracle: OracleKind = OracleKind.MOCK

    @property
    def id(self) -> str:
        """The market id (0x-hex)."""
        return self.params.id


@dataclass(frozen=True)
class MorphoDeployment:
    """What :func:`deploy_morpho` deployed."""

    morpho: str
    irm: str
    owner: str
    fee_recipient: str
    tokens: dict[str, DevToken]
    markets: tuple[DevMarket, ...]
    block: int  # the block Morpho was deployed in (a start_block for discovery)
    feeds: dict[str, DevFeed] = field(default_factory=dict)  # of the FEED markets, by label

    def market(self, label: str) -> DevMarket:
        """A market by label, e.g. ``"WETH/USDC"``."""
        return next(m for m in self.markets if m.label == label)


def morpho_codec() -> Codec:
    """Morpho's functions (its compiled ABI)."""
    return codec_of(morpho_artifact("Morpho"))


async def deploy_morpho(
    dep: Deployer, admin: str, fee_recipient: str, markets: Sequence[MarketSpec] = MARKETS
) -> MorphoDeployment:
    """Deploy Morpho, its IRM, the tokens, one oracle per market, and create the markets."""
    await asyncio.to_thread(ensure_build, MORPHO_BLUE)  # may compile (~25 s) on a fresh checkout
    morpho_art = morpho_artifact("Morpho")
    morpho = await dep.deploy(admin, morpho_art, [admin])
    receipt_block = await dep.client.block_number()
    mc = codec_of(morpho_art)
    irm = await dep.deploy(admin, morpho_artifact("IrmMock"))
    await dep.call_fn(admin, morpho, mc, "enableIrm", irm)
    await dep.call_fn(admin, morpho, mc, "setFeeRecipient", fee_recipient)
    for lltv in sorted({m.lltv for m in markets}):
        await dep.call_fn(admin, morpho, mc, "enableLltv", lltv)

    token_art = npm_artifact("MintableERC20")
    tokens: dict[str, DevToken] = {}
    for spec in TOKENS:
        if any(spec.symbol in (m.collateral, m.loan) for m in markets):
            address = await dep.deploy(admin, token_art, [spec.symbol, spec.symbol, spec.decimals])
            tokens[spec.symbol] = DevToken(spec.symbol, address, spec.decimals, spec.usd)

    oracle_art = morpho_artifact("OracleMock")
    oc = codec_of(oracle_art)
    feeds = await deploy_feeds(dep, admin, markets, {s: t.usd for s, t in tokens.items()})
    created = []
    for m in markets:
        coll, loan = tokens[m.collateral], tokens[m.loan]
        if m.oracle is OracleKind.FEED:
            oracle = await deploy_feed_oracle(dep, admin, m, feeds, (coll.decimals, loan.decimals))
            (read,) = await dep.read(oracle, oc, "price")
            price = int(read)
        else:
            oracle = await dep.deploy(admin, oracle_art)
            price = oracle_price(coll.usd, coll.decimals, loan.usd, loan.decimals)
            await dep.call_fn(admin, oracle, oc, "setPrice", price)
        params = MarketParams(loan.address, coll.address, oracle, irm, m.lltv)
        await dep.call_fn(admin, morpho, mc, "createMarket", params.as_tuple())
        if m.fee:
            await dep.call_fn(admin, morpho, mc, "setFee", params.as_tuple(), m.fee)
        created.append(DevMarket(m.label, params, price, m.oracle))
    return MorphoDeployment(
        morpho, irm, admin, fee_recipient, tokens, tuple(created), receipt_block, feeds
    )


async def set_price(dep: Deployer, admin: str, market: DevMarket, price: int) -> None:
    """Move one ``OracleMock`` market's oracle (``OracleMock.setPrice``)."""
    if market.oracle is not OracleKind.MOCK:
        raise DevnetError(f"{market.label}: priced by feeds; move them (set_answer)")
    await dep.call_fn(
        admin, market.params.oracle, codec_of(morpho_artifact("OracleMock")), "setPrice", price
    )
