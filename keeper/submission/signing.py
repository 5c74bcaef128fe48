"""The searcher identity and the ``X-Flashbots-Signature`` header of bundle requests.

Relays and builders identify a searcher by an address that signs every request body: the
header is ``<address>:<signature>``, the signature an EIP-191 personal-message signature of
the *text* of ``keccak256(body)`` written as 0x-prefixed lowercase hex (66 characters). The
``0x`` matters: relays decode that text with a decoder that requires it, and a signature of
the bare hex (what ``hexbytes>=1``'s ``.hex()`` gives) recovers another address and is
rejected. The identity key is not the trading key: it holds no funds and only builds
reputation with builders; the key never appears in a repr, a log or an error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils.crypto import keccak

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from pydantic import SecretStr

SIGNATURE_HEADER = "X-Flashbots-Signature"


def body_digest_text(body: bytes) -> str:
    """The message that is signed: ``keccak256(body)`` as 0x-prefixed lowercase hex text."""
    return "0x" + keccak(body).hex()


class SearcherIdentity:
    """Signs bundle requests for one identity address (its key held here only)."""

    __slots__ = ("_account", "address")

    def __init__(self, key: SecretStr) -> None:
        self._account: LocalAccount = Account.from_key(key.get_secret_value())
        self.address: str = self._account.address

    def __repr__(self) -> str:
        return f"SearcherIdentity({self.address})"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("a SearcherIdentity cannot be pickled")

    def signature(self, body: bytes) -> str:
        """The 0x-prefixed 65-byte signature of ``body``'s digest text."""
        signed = self._account.sign_message(encode_defunct(text=body_digest_text(body)))
        return "0x" + bytes(signed.signature).hex()

    def header(self, body: bytes) -> dict[str, str]:
        """The header to send with ``body`` (exactly these bytes must be the request body)."""
        return {SIGNATURE_HEADER: f"{self.address}:{self.signature(body)}"}
