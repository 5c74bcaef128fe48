"""The local price of a MorphoChainlinkOracleV2-shaped oracle, and the shape's detection."""

from __future__ import annotations

from keeper.errors import ContractRevertError, TransientRpcError
from keeper.protocols.morpho_blue.exposure import split_prices
from keeper.protocols.morpho_blue.oracle_feeds import (
    UINT_MAX,
    FeedOracle,
    OracleInputs,
    local_price,
    parse_shape,
)

B1, B2, Q1, VAULT = "0x" + "b1" * 20, "0x" + "b2" * 20, "0x" + "a1" * 20, "0x" + "cc" * 20


def _oracle(scale: int, *, two_base: bool = False, vault: bool = False) -> FeedOracle:
    return FeedOracle(
        "0x" + "0f" * 20,
        VAULT if vault else None,
        10**18 if vault else 1,
        None,
        1,
        (B1, B2 if two_base else None),
        (Q1, None),
        scale,
    )


def test_zero_feeds_and_vaults_count_as_one_and_the_division_rounds_down() -> None:
    """The price is SCALE * b1 / q1 floored, with the missing second feeds and vaults as 1."""
    inputs = OracleInputs({B1: 6_000_012_345_678, Q1: 99_990_001}, {})
    assert local_price(_oracle(10**34), inputs) == 10**34 * 6_000_012_345_678 // 99_990_001


def test_two_base_feeds_a_vault_and_a_product_beyond_256_bits() -> None:
    """Both base feeds and the vault's assets multiply; SCALE * base above 2^256 is exact."""
    b1, b2, q1, assets = 10**29, 3 * 10**28 + 7, 10**70 + 11, 1_050_000_000_000_000_001
    inputs = OracleInputs({B1: b1, B2: b2, Q1: q1}, {(VAULT, 10**18): assets})
    oracle = _oracle(10**36, two_base=True, vault=True)
    assert 10**36 * assets * b1 * b2 > UINT_MAX
    assert local_price(oracle, inputs) == 10**36 * (assets * b1 * b2) // q1


def test_reverting_cases_have_no_price() -> None:
    """A negative answer, a product overflow, a zero divisor, a quotient above 256 bits."""
    oracle = _oracle(10**36, two_base=True)
    assert local_price(oracle, OracleInputs({B1: -1, B2: 1, Q1: 1}, {})) is None
    assert local_price(oracle, OracleInputs({B1: 2**200, B2: 2**60, Q1: 1}, {})) is None
    assert local_price(oracle, OracleInputs({B1: 5, B2: 1, Q1: 0}, {})) is None
    assert local_price(oracle, OracleInputs({B1: 2**250, B2: 1, Q1: 1}, {})) is None
    assert local_price(oracle, OracleInputs({B1: 5, B2: 1}, {})) is None  # an input unread


def test_an_override_replaces_one_feed_answer() -> None:
    """A pending answer is used in place of the feed's last answer."""
    inputs = OracleInputs({B1: 100, Q1: 1}, {})
    assert local_price(_oracle(10), inputs, {B1: 90}) == 900
    assert local_price(_oracle(10), inputs, {Q1: 3}) == 333
    assert local_price(_oracle(10), inputs, {B1: -5}) is None


def test_an_oracle_that_does_not_answer_the_getters_has_no_shape() -> None:
    """A revert (OracleMock has no such function) or an empty answer: no resolvable feeds;
    a node error: unknown yet (to be read again).
    """
    revert = ContractRevertError("execution reverted", method="eth_call")
    assert parse_shape("0x" + "01" * 20, [revert] * 9) is None
    assert parse_shape("0x" + "01" * 20, [b""] * 9) is None
    error = TransientRpcError("timeout", method="eth_call")
    assert parse_shape("0x" + "01" * 20, [error] * 9) is error


def test_pending_oracle_prices_ride_under_market_ids() -> None:
    """split_prices tells 32-byte market ids (oracle prices) from token addresses (USD)."""
    market, token = "0x" + "ab" * 32, "0x" + "cd" * 20
    assert split_prices({market: 7, token: 3}) == ({token: 3}, {market: 7})
