"""The ABI codec round-trips calls and decodes events without a node."""

from __future__ import annotations

import pytest
from eth_abi.abi import encode

from keeper.chain.abi import Codec, error_string
from keeper.errors import TransientRpcError

POOL = Codec.named("aave_v3/IPool")
FEED = Codec.named("ManualAggregator")


def test_encode_has_the_selector_and_decode_checksums():
    """GetUserAccountData encodes with its 4-byte selector; outputs decode to ints."""
    data = POOL.encode("getUserAccountData", "0x" + "ab" * 20)
    assert data.startswith("0xbf92857c")
    raw = encode(["uint256"] * 6, [1, 2, 3, 4, 5, 6])
    assert POOL.decode("getUserAccountData", raw) == (1, 2, 3, 4, 5, 6)


def test_answer_updated_topic_is_chainlinks_and_decodes():
    """Our feed's AnswerUpdated has Chainlink's topic0; indexed fields decode from topics."""
    topic = FEED.topic("AnswerUpdated")
    assert topic == "0x0559884fd3a460db3073b7fc896cc77986f16e378210ded43186175bf646fc5f"
    log = {
        "topics": [
            topic,
            "0x" + encode(["int256"], [-5]).hex(),
            "0x" + encode(["uint256"], [7]).hex(),
        ],
        "data": "0x" + encode(["uint256"], [1234]).hex(),
    }
    assert FEED.decode_log(log) == (
        "AnswerUpdated",
        {"current": -5, "roundId": 7, "updatedAt": 1234},
    )
    assert FEED.decode_log({"topics": ["0x" + "00" * 32], "data": "0x"}) is None


def test_garbled_answer_is_a_transient_rpc_error():
    """An answer that does not decode is a node fault the loop skips, not a crash."""
    with pytest.raises(TransientRpcError, match="undecodable"):
        POOL.decode("getUserAccountData", b"\x01\x02")


def test_error_string_decodes_revert_messages_and_nothing_else():
    data = "0x08c379a0" + encode(["string"], ["46"]).hex()
    assert error_string(data) == "46"
    assert error_string("0x4e487b71" + "00" * 31 + "11") is None  # Panic(0x11), not a message
    assert error_string("0x08c379a0" + "ff" * 40) is None  # cut short
    assert error_string("0x") is None


def test_aave_reverts_are_named_custom_errors_string_codes_and_panics():
    """3.4+ custom errors decode by name (selectors of the shared notes), v3.0 string codes and
    panics by value; anything else is unnamed.
    """
    from keeper.execution.reasons import RevertReason
    from keeper.protocols.aave_v3.reverts import revert_error

    assert revert_error("0xb629b0e4") == "MustNotLeaveDust"
    assert revert_error("0x44511af1") == "SelfLiquidation"
    assert revert_error("0x4e487b71" + "00" * 31 + "11") == "Panic(0x11)"
    message = "0x08c379a0" + "20".rjust(64, "0") + "2".rjust(64, "0") + "3436".ljust(64, "0")
    assert revert_error(message) == "Error('46')"
    assert revert_error("0x12345678") is None
    assert revert_error("0x") is None
    reason = RevertReason("liquidationCall reverted", "MustNotLeaveDust")
    assert reason == "liquidationCall reverted" and reason.error == "MustNotLeaveDust"
