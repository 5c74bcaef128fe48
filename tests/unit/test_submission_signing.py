"""The X-Flashbots-Signature header: a known vector computed step by step, and its pitfalls."""

from __future__ import annotations

import json
import pickle

import pytest
from Crypto.Hash import keccak as pycryptodome_keccak
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_keys.datatypes import PrivateKey
from hexbytes import HexBytes
from pydantic import SecretStr

from keeper.submission.signing import SIGNATURE_HEADER, SearcherIdentity, body_digest_text

SEARCHER_KEY = "0x" + "4c" * 32
BODY = json.dumps(
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "eth_sendBundle",
        "params": [{"txs": ["0x02f8"], "blockNumber": "0x10"}],
    },
    separators=(",", ":"),
).encode()


def _keccak(data: bytes) -> bytes:
    """keccak256 by another implementation (pycryptodome) than the one the keeper uses."""
    return pycryptodome_keccak.new(digest_bits=256, data=data).digest()


def test_digest_text_is_0x_prefixed_lowercase_keccak_of_the_body():
    """The signed text is "0x" + 64 lowercase hex digits of keccak256(body); keccak256 of the
    empty string is the well-known c5d2...a470.
    """
    assert body_digest_text(b"") == (
        "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    )
    text = body_digest_text(BODY)
    assert text == "0x" + _keccak(BODY).hex()
    assert len(text) == 66 and text == text.lower()


def test_header_matches_an_independent_eip191_signature():
    """Computed by hand: keccak256(body) -> its 0x hex text -> the EIP-191 prefix (byte
    0x19, "Ethereum Signed Message:", a newline, "66") + text -> keccak256 -> signed with
    eth_keys; the header is "<address>:<that signature>" and the address recovers from it.
    """
    text = ("0x" + _keccak(BODY).hex()).encode()
    prefixed = b"\x19Ethereum Signed Message:\n" + str(len(text)).encode() + text
    message_hash = _keccak(prefixed)
    key = PrivateKey(bytes.fromhex(SEARCHER_KEY[2:]))
    expected = key.sign_msg_hash(message_hash)
    v, r, s = expected.v + 27, expected.r, expected.s
    expected_hex = "0x" + r.to_bytes(32, "big").hex() + s.to_bytes(32, "big").hex() + f"{v:02x}"

    identity = SearcherIdentity(SecretStr(SEARCHER_KEY))
    header = identity.header(BODY)[SIGNATURE_HEADER]
    address, signature = header.split(":")
    assert address == key.public_key.to_checksum_address() == identity.address
    assert signature == expected_hex
    recovered = Account.recover_message(encode_defunct(text=text.decode()), signature=signature)
    assert recovered == address


def test_the_hexbytes_hex_pitfall_signs_another_message():
    """With hexbytes >= 1, `.hex()` drops the 0x: a signature of that text (what the flashbots
    package and the docs' snippet do) recovers, as a relay checks it, to another address.
    """
    digest = HexBytes(_keccak(BODY))
    assert not digest.hex().startswith("0x")
    assert digest.to_0x_hex() == body_digest_text(BODY)
    account = Account.from_key(SEARCHER_KEY)
    wrong = account.sign_message(encode_defunct(text=digest.hex())).signature
    relay_view = Account.recover_message(
        encode_defunct(text=body_digest_text(BODY)), signature=wrong
    )
    assert relay_view != account.address
    good = SearcherIdentity(SecretStr(SEARCHER_KEY)).signature(BODY)
    assert good != "0x" + bytes(wrong).hex()


def test_the_identity_never_shows_its_key():
    """Its repr and str show the address only; the key cannot be pickled."""
    identity = SearcherIdentity(SecretStr(SEARCHER_KEY))
    for text in (repr(identity), str(identity)):
        assert SEARCHER_KEY[2:] not in text and identity.address in text
    with pytest.raises(TypeError):
        pickle.dumps(identity)
