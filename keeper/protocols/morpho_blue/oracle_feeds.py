"""The feeds behind a Morpho market's oracle, when it has the MorphoChainlinkOracleV2 shape.

Such an oracle (morpho-org/morpho-blue-oracles) prices one collateral unit in loan units,
scaled by 1e36, from immutable parts read once: two base feeds and two quote feeds
(Chainlink-style, ``latestRoundData``), a base and a quote ERC-4626 vault with their
conversion samples, and ``SCALE_FACTOR``. Its ``price()`` is::

    mulDiv(SCALE_FACTOR, baseAssets * baseFeed1 * baseFeed2, quoteAssets * quoteFeed1 * quoteFeed2)

rounded down on the full product, where a zero-address feed or vault counts as 1, a vault's
assets are ``convertToAssets(sample)``, a negative answer reverts, either product overflowing
256 bits reverts, and so do a zero divisor and a quotient above 256 bits. :func:`local_price`
is that, in integers; None where the oracle would revert. An oracle that does not answer the
getters (Morpho's ``OracleMock``, any other design) has no resolvable feeds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from keeper.chain.abi import Codec
from keeper.chain.batch import Call, eth_call
from keeper.errors import ContractRevertError, RpcError, TransientRpcError

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

SHAPE = Codec.named("IMorphoChainlinkOracleV2")
FEED = Codec.named("IChainlinkAggregatorProxy")
VAULT = Codec.named("IShareVault")
ZERO = "0x" + "00" * 20
UINT_MAX = 2**256 - 1
GETTERS = (
    "BASE_VAULT",
    "BASE_VAULT_CONVERSION_SAMPLE",
    "QUOTE_VAULT",
    "QUOTE_VAULT_CONVERSION_SAMPLE",
    "BASE_FEED_1",
    "BASE_FEED_2",
    "QUOTE_FEED_1",
    "QUOTE_FEED_2",
    "SCALE_FACTOR",
)


def _address(value: object) -> str | None:
    text = str(value)
    return None if text.lower() == ZERO else text


@dataclass(frozen=True)
class FeedOracle:
    """The immutable parts of one MorphoChainlinkOracleV2-shaped oracle (None: "counts as 1")."""

    address: str
    base_vault: str | None
    base_sample: int
    quote_vault: str | None
    quote_sample: int
    base_feeds: tuple[str | None, str | None]
    quote_feeds: tuple[str | None, str | None]
    scale_factor: int

    def feeds(self) -> Iterator[str]:
        """Its non-zero feeds (as the oracle calls them: a proxy or an aggregator)."""
        for feed in (*self.base_feeds, *self.quote_feeds):
            if feed is not None:
                yield feed

    def vaults(self) -> Iterator[tuple[str, int]]:
        """Its non-zero vaults with the sample of shares it converts."""
        if self.base_vault is not None:
            yield self.base_vault, self.base_sample
        if self.quote_vault is not None:
            yield self.quote_vault, self.quote_sample


@dataclass(frozen=True)
class OracleInputs:
    """What the oracles' prices are made of at one block."""

    answers: Mapping[str, int]  # feed -> its latest answer (int256)
    vault_assets: Mapping[tuple[str, int], int]  # (vault, sample) -> convertToAssets(sample)
    updated_at: Mapping[str, int] = field(default_factory=dict)  # feed -> its answer's time


def _product(first: int, *rest: int) -> int | None:
    """Checked multiplication, left to right as Solidity does; None on overflow."""
    out = first
    for value in rest:
        out *= value
        if out > UINT_MAX:
            return None
    return out


def local_price(
    oracle: FeedOracle, inputs: OracleInputs, override: Mapping[str, int] | None = None
) -> int | None:
    """``price()`` of ``oracle`` from ``inputs`` (``override``: feeds' answers replaced).

    None when the oracle would revert (a negative answer, an overflow, a zero divisor) or an
    input is missing.
    """
    answers = inputs.answers if override is None else {**inputs.answers, **override}

    def answer(feed: str | None) -> int | None:
        if feed is None:
            return 1
        value = answers.get(feed)
        return None if value is None or value < 0 else value

    def assets(vault: str | None, sample: int) -> int | None:
        return 1 if vault is None else inputs.vault_assets.get((vault, sample))

    parts = [
        assets(oracle.base_vault, oracle.base_sample),
        *(answer(f) for f in oracle.base_feeds),
        assets(oracle.quote_vault, oracle.quote_sample),
        *(answer(f) for f in oracle.quote_feeds),
    ]
    if any(p is None for p in parts):
        return None
    b_assets, b1, b2, q_assets, q1, q2 = (int(p) for p in parts if p is not None)
    base, quote = _product(b_assets, b1, b2), _product(q_assets, q1, q2)
    if base is None or quote is None or quote == 0:
        return None
    price = oracle.scale_factor * base // quote  # mulDiv: exact on the full product, floored
    return None if price > UINT_MAX else price


def shape_calls(oracle: str, block: int) -> list[Call]:
    """The getters that tell the shape (one call each)."""
    return [eth_call(oracle, SHAPE.encode(fn), block) for fn in GETTERS]


def parse_shape(oracle: str, results: Sequence[bytes | RpcError]) -> FeedOracle | RpcError | None:
    """The oracle's parts; None when it has not the shape; the error of a read to retry."""
    values: list[object] = []
    for fn, raw in zip(GETTERS, results, strict=True):
        if isinstance(raw, ContractRevertError):
            return None  # no such getter: another kind of oracle
        if isinstance(raw, RpcError):
            return raw
        try:
            (value,) = SHAPE.decode(fn, raw)
        except TransientRpcError:
            return None  # empty or short answer: no such getter (or no code)
        values.append(value)
    b_vault, b_sample, q_vault, q_sample, b1, b2, q1, q2, scale = values
    return FeedOracle(
        oracle,
        _address(b_vault),
        int(str(b_sample)),
        _address(q_vault),
        int(str(q_sample)),
        (_address(b1), _address(b2)),
        (_address(q1), _address(q2)),
        int(str(scale)),
    )


def input_calls(feeds: Sequence[str], vaults: Sequence[tuple[str, int]], block: int) -> list[Call]:
    """``latestRoundData`` of each feed, then ``convertToAssets(sample)`` of each vault."""
    calls = [eth_call(f, FEED.encode("latestRoundData"), block) for f in feeds]
    calls += [eth_call(v, VAULT.encode("convertToAssets", s), block) for v, s in vaults]
    return calls


def parse_inputs(
    feeds: Sequence[str],
    vaults: Sequence[tuple[str, int]],
    results: Sequence[bytes | RpcError],
) -> OracleInputs:
    """The answers and vault assets that were read (a failed one is left out)."""
    answers: dict[str, int] = {}
    updated_at: dict[str, int] = {}
    for feed, raw in zip(feeds, results[: len(feeds)], strict=True):
        if isinstance(raw, RpcError):
            continue
        try:
            round_data = FEED.decode("latestRoundData", raw)
        except TransientRpcError:
            continue
        answers[feed] = int(str(round_data[1]))
        updated_at[feed] = int(str(round_data[3]))
    assets: dict[tuple[str, int], int] = {}
    for vault, raw in zip(vaults, results[len(feeds) :], strict=True):
        if isinstance(raw, RpcError):
            continue
        try:
            assets[vault] = int(str(VAULT.decode("convertToAssets", raw)[0]))
        except TransientRpcError:
            continue
    return OracleInputs(answers, assets, updated_at)


def emitter_of(feed: str, raw: bytes | RpcError) -> str:
    """Where ``feed``'s updates are sent: a proxy's ``aggregator()``, else the feed itself."""
    if isinstance(raw, RpcError):
        return feed
    try:
        (aggregator,) = FEED.decode("aggregator", raw)
    except TransientRpcError:
        return feed
    return _address(aggregator) or feed
