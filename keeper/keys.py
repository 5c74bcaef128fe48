"""Where the keeper's key comes from: the environment, a file, or an encrypted keystore.

Exactly one source is configured (the settings check that). The key is returned as a SecretStr
and only ever handed to the Signer; no message here quotes a key, a password or a file's content.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
from eth_account import Account
from pydantic import SecretStr

from keeper.errors import ConfigError
from keeper.settings import check_key

if TYPE_CHECKING:
    from keeper.settings import Settings

log = structlog.get_logger(__name__)


def _read_secret_file(key: str, path: str) -> str:
    file = Path(path)
    try:
        mode = file.stat().st_mode
        text = file.read_text().strip()
    except OSError as exc:
        raise ConfigError(
            f"{key}: cannot read {path} ({exc.strerror}); give a readable file"
        ) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning(
            "secret_file_readable_by_others", setting=key, path=path, fix="chmod 600 the file"
        )
    return text


def resolve_key(settings: Settings) -> SecretStr:
    """The keeper's private key from whichever source is configured."""
    if settings.private_key is not None:
        return settings.private_key
    if settings.private_key_file is not None:
        raw = _read_secret_file("private_key_file", settings.private_key_file)
        try:
            return check_key(SecretStr(raw))
        except ValueError as exc:
            raise ConfigError(f"private_key_file: {exc}") from None
    if settings.keystore_file is not None and settings.keystore_password_file is not None:
        keystore = _read_secret_file("keystore_file", settings.keystore_file)
        password = _read_secret_file("keystore_password_file", settings.keystore_password_file)
        try:
            key = Account.decrypt(json.loads(keystore), password)
        except (ValueError, KeyError, TypeError):
            raise ConfigError(
                "keystore_password_file: the password does not open keystore_file (or the "
                "keystore is not an eth-account JSON keystore)"
            ) from None
        return SecretStr("0x" + bytes(key).hex())
    raise ConfigError(
        "private_key: missing; set one of private_key (KEEPER_PRIVATE_KEY), private_key_file, "
        "or keystore_file with keystore_password_file"
    )
