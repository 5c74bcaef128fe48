"""Output helpers: exact health-factor strings, and secrets kept out of text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from keeper.chain.client import ChainClient
from keeper.chain.redact import redact_url
from keeper.core.display import format_base, format_wad, parse_wad
from keeper.execution.signer import Signer


def test_format_wad_keeps_all_18_decimals():
    """0.981234567890123456 prints exactly, with 18 decimals."""
    assert format_wad(981_234_567_890_123_456) == "0.981234567890123456"
    assert format_wad(10**18) == "1.000000000000000000"
    assert format_base(123_456_789) == "1.23456789"


@given(st.integers(min_value=0, max_value=2**256 - 1))
def test_wad_round_trip(value):
    """parse_wad(format_wad(x)) == x for every uint256."""
    assert parse_wad(format_wad(value)) == value


def test_parse_wad_rejects_bad_input():
    """Non-numbers, negatives and more than 18 decimals are refused."""
    for bad in ("abc", "-1", "0.0000000000000000001"):
        with pytest.raises(ValueError, match=r"\S"):
            parse_wad(bad)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://eth-mainnet.g.alchemy.com/v2/KEY123", "https://eth-mainnet.g.alchemy.com/***"),
        ("https://user:pass@node.example:8545", "https://node.example:8545/***"),
        ("http://127.0.0.1:8545", "http://127.0.0.1:8545"),
        ("wss://node.example/ws?apikey=KEY123", "wss://node.example/***"),
    ],
)
def test_redact_url_hides_credentials_path_and_query(url, shown):
    """Only scheme, host and port survive redaction."""
    assert redact_url(url) == shown


@pytest.mark.asyncio
async def test_client_and_signer_reprs_hide_secrets():
    """The client shows a redacted URL; the signer shows its address only."""
    client = ChainClient("https://node.example/v2/KEY123")
    try:
        assert client.w3 is not None
        assert "KEY123" not in repr(client) and "KEY123" not in str(client.w3.provider)
        assert "KEY123" not in repr(client.w3.provider)
    finally:
        await client.close()
    key = "0x" + "ab" * 32
    signer = Signer(SecretStr(key))
    assert "ab" * 32 not in repr(signer) + str(signer)
    assert signer.address in repr(signer)
