"""The keeper's key. The only object that holds it; its repr shows the address only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eth_account import Account

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from pydantic import SecretStr


class Signer:
    """Signs EIP-1559 transactions for one account."""

    __slots__ = ("_account", "address")

    def __init__(self, key: SecretStr) -> None:
        self._account: LocalAccount = Account.from_key(key.get_secret_value())
        self.address: str = self._account.address

    def __repr__(self) -> str:
        return f"Signer({self.address})"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("a Signer cannot be pickled")

    def sign(self, tx: dict[str, Any]) -> tuple[bytes, str]:
        """Return (raw transaction bytes, 0x transaction hash)."""
        signed = self._account.sign_transaction(tx)
        return bytes(signed.raw_transaction), "0x" + bytes(signed.hash).hex()
