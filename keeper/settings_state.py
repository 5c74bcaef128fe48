"""The journal, HA lease and checkpoint settings of :class:`keeper.settings.Settings`.

Kept apart for size: where the keeper's state lives, and how two keepers on one key share it.

SQLite (``journal_path``) is the embedded default for one instance; ``journal_url`` puts the
journal, the P&L ledger and the lease in PostgreSQL for an active/standby pair. Checkpoints of
the tracked market state go to a file (``checkpoint_path``), or to the journal's PostgreSQL.
"""

from __future__ import annotations

import re
from typing import Self

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings

_PG_URL_RE = re.compile(r"^postgres(ql)?://[^\s/]+(/[^\s]*)?$", re.IGNORECASE)
_CHECKPOINT_URL_RE = re.compile(r"^(https?://[^\s/]+|file://)", re.IGNORECASE)


class StateSettings(BaseSettings):
    """Where the journal, the lease and the checkpoints live."""

    journal_path: str = Field(
        default="keeper-journal.sqlite",
        description="SQLite write-ahead journal of every signed transaction (keep it on a volume)",
    )
    journal_url: SecretStr | None = Field(
        default=None,
        description="postgresql://user:password@host:port/db: journal, P&L ledger and lease in "
        "PostgreSQL, for two or more keepers on one key (one active, the others standby); "
        "unset: the SQLite file journal_path",
    )
    lease_ttl_s: float = Field(
        default=10.0,
        gt=0,
        le=600,
        description="HA: the lease lapses this long after its last renewal (a standby then "
        "takes over)",
    )
    lease_renew_s: float = Field(
        default=2.0, gt=0, description="HA: the active renews its lease this often"
    )
    checkpoint_path: str | None = Field(
        default=None,
        description="file the tracked market state is checkpointed to (on a volume) for warm "
        "restarts; unset: every start reads the market's whole history",
    )
    checkpoint_source: str | None = Field(
        default=None,
        description="where a start loads its checkpoint from instead of checkpoint_path: "
        "another keeper's file, or its ops endpoint http://host:port/checkpoint (a standby)",
    )
    checkpoint_to_journal: bool = Field(
        default=False,
        description="HA: checkpoints in the journal's PostgreSQL (journal_url) instead of a "
        "file: the active writes them, a standby starting cold loads the active's",
    )
    checkpoint_interval_blocks: int = Field(
        default=100, ge=1, description="write a checkpoint after this many blocks"
    )
    checkpoint_interval_s: float = Field(
        default=300.0, gt=0, description="or after this many seconds, whichever comes first"
    )

    @field_validator("checkpoint_path", "checkpoint_source")
    @classmethod
    def _checkpoint_location(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not value:
            raise ValueError("expected a file path (or leave it unset)")
        if info.field_name == "checkpoint_path" and "://" in value:
            raise ValueError("expected a file path (checkpoints are written to a file)")
        if "://" in value and not _CHECKPOINT_URL_RE.match(value):
            raise ValueError("expected a file path, a file:// URL or an http(s):// URL")
        return value

    @field_validator("journal_url")
    @classmethod
    def _journal_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        url = value.get_secret_value().strip()
        if not _PG_URL_RE.match(url):
            raise ValueError("expected a postgresql://user:password@host:port/database URL")
        return SecretStr(url)

    @model_validator(mode="after")
    def _lease_timing(self) -> Self:
        if self.checkpoint_to_journal and self.journal_url is None:
            raise ValueError(
                "checkpoint_to_journal needs journal_url (the PostgreSQL the checkpoints go "
                "to); set journal_url or use checkpoint_path"
            )
        if self.lease_renew_s >= self.lease_ttl_s / 2:
            raise ValueError(
                f"lease_renew_s ({self.lease_renew_s}) must be below half of lease_ttl_s "
                f"({self.lease_ttl_s}): a renewal may fail once without the lease lapsing; "
                "lower lease_renew_s or raise lease_ttl_s"
            )
        return self
