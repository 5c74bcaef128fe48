"""The keeper's exceptions, one subtree per failure domain.

::

    KeeperError
    ├── ConfigError             bad or missing setting; the CLI exits 2
    ├── RpcError                the node answered with an error, or not at all
    │   └── TransientRpcError   worth retrying: timeout, connection reset, 429, 5xx
    ├── ContractRevertError     an eth_call reverted (reason attached when the node gave one)
    ├── ChainError              the chain itself misbehaved (a reorg deeper than remembered)
    ├── DevnetError             the local Anvil devnet could not start or deploy
    ├── SimulationRevertedError a transaction's dry run reverted; nothing was sent
    └── TransactionError        a sent transaction failed or could not be tracked
        ├── TransactionRevertedError  mined with status 0
        ├── UnderpricedError          the node refused our fees (replacement too cheap)
        ├── NonceTooLowError          the nonce was used, and not by any transaction of ours
        ├── NotActiveError            not the key's active keeper (HA lease): nothing is sent
        └── JournalUnavailableError   the journal's database cannot be reached

Code catches the narrowest class it can handle; anything else is a bug and is allowed to surface.
"""

from __future__ import annotations


class KeeperError(Exception):
    """Root of every error the keeper raises on purpose."""


class ConfigError(KeeperError):
    """A setting is missing or invalid. The message names the key and the fix."""


class RpcError(KeeperError):
    """The node returned a JSON-RPC error or an unusable answer."""

    def __init__(self, message: str, *, method: str, code: int | None = None) -> None:
        super().__init__(f"{method}: {message}")
        self.method = method
        self.code = code


class TransientRpcError(RpcError):
    """A failure that may pass on retry: timeout, dropped connection, rate limit, 5xx."""


class ContractRevertError(RpcError):
    """An ``eth_call`` reverted."""

    def __init__(self, message: str, *, method: str, data: str | None = None) -> None:
        super().__init__(message, method=method, code=3)
        self.data = data


class ChainError(KeeperError):
    """The chain changed in a way that invalidates what we hold."""


class DevnetError(KeeperError):
    """The local devnet (Anvil, artifacts, deployment) failed."""


class SimulationRevertedError(KeeperError):
    """The exact transaction reverted in simulation; it was not sent."""


class TransactionError(KeeperError):
    """A transaction could not be sent, tracked or confirmed."""


class TransactionRevertedError(TransactionError):
    """A transaction was mined with status 0."""

    def __init__(self, tx_hash: str, gas_used: int) -> None:
        super().__init__(f"transaction {tx_hash} reverted (gas used {gas_used})")
        self.tx_hash = tx_hash
        self.gas_used = gas_used


class UnderpricedError(TransactionError):
    """The node refused the transaction's fees (e.g. a replacement below +10%)."""


class NonceTooLowError(TransactionError):
    """The nonce is already used on chain by a transaction we did not sign (or lost track of)."""


class NotActiveError(TransactionError):
    """Not the key's active keeper (a standby, or its lease lapsed or was taken).

    Raised before anything is written or broadcast: a stale active can never send.
    """


class JournalUnavailableError(TransactionError):
    """The journal's database cannot be reached: nothing may be sent that is not journaled."""
