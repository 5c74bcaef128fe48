"""The keeper's one typed settings object, built once at startup and passed down.

Sources, strongest first: explicit overrides (CLI flags), environment variables ``KEEPER_*``,
the TOML file given with ``--config`` (same keys, lower case), then defaults. Validation errors
become :class:`~keeper.errors.ConfigError` naming the key and the fix, and never quote the
offending value, so a mistyped private key cannot leak into a terminal or a log.
"""

from __future__ import annotations

import os
import re
import tomllib
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from keeper.env_check import check_environment
from keeper.errors import ConfigError
from keeper.settings_morpho import MorphoMarketFilter
from keeper.settings_ops import OpsSettings
from keeper.settings_state import StateSettings
from keeper.settings_submission import SubmissionSettings
from keeper.settings_types import Address

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

_KEY_RE = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")
_URL_RE = re.compile(r"^(https?|wss?)://[^\s/]+", re.IGNORECASE)


_FIX_HINTS: dict[str, str] = {
    "rpc_url": "an http(s):// or ws(s):// URL of an Ethereum JSON-RPC node",
    "pool_addresses_provider": "the market's PoolAddressesProvider address (0x + 40 hex digits)",
    "private_key": "a 32-byte hex private key (64 hex digits, optional 0x)",
    "morpho": "the Morpho Blue contract address (0x + 40 hex digits)",
}
# The address each protocol's market is found from (a missing one is reported as that key).
_MARKET_KEY = {"aave_v3": "pool_addresses_provider", "morpho_blue": "morpho"}


class Settings(MorphoMarketFilter, SubmissionSettings, StateSettings, OpsSettings, BaseSettings):
    """Everything the keeper needs to know; see config/devnet.toml for a commented example.

    The Morpho market filters are declared in :mod:`keeper.settings_morpho`.
    """

    model_config = SettingsConfigDict(
        env_prefix="KEEPER_",
        extra="forbid",
        frozen=True,
        hide_input_in_errors=True,
    )

    rpc_url: SecretStr = Field(description="JSON-RPC endpoint of the node (may carry an API key)")
    rpc_fallback_urls: list[SecretStr] = Field(
        default_factory=list,
        description="more endpoints of the same chain; reads fail over to them in order",
    )
    pool_addresses_provider: Address | None = Field(
        default=None, description='Aave V3 PoolAddressesProvider (protocol = "aave_v3")'
    )
    morpho: Address | None = Field(
        default=None, description='the Morpho Blue contract (protocol = "morpho_blue")'
    )
    usd_tokens: list[Address] = Field(
        default_factory=list,
        description="morpho_blue: tokens taken at 1 USD, from which the markets' oracles price "
        "the others for profit and gas checks (default: stablecoins found by symbol)",
    )
    private_key: SecretStr | None = Field(
        default=None, description="hex key of the keeper account; needed by `run`"
    )
    private_key_file: str | None = Field(
        default=None, description="file holding the hex key (instead of private_key)"
    )
    keystore_file: str | None = Field(
        default=None, description="encrypted JSON keystore (eth-account) holding the key"
    )
    keystore_password_file: str | None = Field(
        default=None, description="file holding the keystore's password"
    )
    chain_id: int | None = Field(default=None, ge=1, description="refuse a node on another chain")
    start_block: int = Field(default=0, ge=0, description="first block of account discovery")
    min_profit_usd: Decimal = Field(
        default=Decimal(0), ge=0, description="skip liquidations whose bonus is worth less"
    )
    dry_run: bool = Field(default=False, description="plan and simulate, never send")
    poll_interval_s: float = Field(default=1.0, gt=0, le=60, description="head polling period")
    rpc_timeout_s: float = Field(default=10.0, gt=0, le=120, description="deadline of one RPC")
    rpc_retry_s: float = Field(
        default=20.0, ge=0, le=600, description="total time to retry a failing read"
    )
    log_range: int = Field(default=10_000, ge=1, description="initial eth_getLogs block span")
    batch_size: int = Field(default=200, ge=1, le=5000, description="calls per JSON-RPC batch")
    receipt_timeout_s: float = Field(default=120.0, gt=0, description="wait for a receipt")
    max_fee_gwei: Decimal = Field(default=Decimal(500), gt=0, description="cap on maxFeePerGas")
    priority_fee_gwei: Decimal | None = Field(
        default=None, ge=0, description="fixed tip, never outbidding; default: the bid policy"
    )
    max_priority_fee_gwei: Decimal = Field(default=Decimal(3), ge=0, description="cap on the tip")
    bid_share_bps: int = Field(
        default=5000,
        ge=0,
        le=10_000,
        description="share of a plan's break-even tip a bid may give away to beat a rival",
    )
    bid_floor_gwei: Decimal | None = Field(
        default=None,
        ge=0,
        description="the tip bid while no rival is seen; default: the node's suggestion (capped)",
    )
    bid_watch: bool = Field(
        default=True,
        description="while our liquidations are pending, outbid rivals seen in the mempool",
    )
    reconcile_sample: int = Field(
        default=2,
        ge=0,
        le=10_000,
        description=(
            "accounts checked against getUserAccountData every reconcile_every_blocks blocks"
            " (besides candidates, always checked)"
        ),
    )
    reconcile_every_blocks: int = Field(
        default=8,
        ge=1,
        le=100_000,
        description="blocks between two rotating-sample checks (each account read is a request)",
    )
    oracle_heartbeat_s: int = Field(
        default=3600, ge=1, description="a feed not updated for this long is reported stale"
    )
    execution_mode: Literal["inventory", "flash"] = Field(
        default="inventory",
        description="pay from the keeper's tokens, or flash-borrow through flash_liquidator",
    )
    flash_liquidator: Address | None = Field(
        default=None,
        description=(
            "our contract, owned by the keeper's key (deploy with `keeper deploy-liquidator`): "
            "FlashLiquidator (aave_v3: flash mode, and inventory mode, whose liquidations go "
            "through it so that a lost race stops early and cheaply) or MorphoLiquidator "
            "(morpho_blue: flash mode)"
        ),
    )
    inventory_direct: bool = Field(
        default=False,
        description=(
            "inventory mode without our contract: liquidationCall straight to the Pool, an "
            "approval per liquidation (a lost race reverts in the Pool, 130k-200k gas); the "
            "old path, kept for comparison (Morpho Blue always uses its direct call)"
        ),
    )
    coinbase_payment: bool = Field(
        default=False,
        description=(
            "pay the bid to block.coinbase from inside the liquidation (bid_share_bps of the "
            "margin after gas), all-or-nothing with it: for bundle submission; needs our "
            "contract, funded with ether for the bids"
        ),
    )
    uniswap_quoter: Address | None = Field(default=None, description="Uniswap V3 QuoterV2")
    swap_fee: int = Field(default=3000, description="Uniswap V3 pool fee tier for the swap")
    max_slippage_bps: int = Field(
        default=50, ge=0, le=2000, description="accepted shortfall of the swap against its quote"
    )
    protocol: Literal["aave_v3", "morpho_blue"] = Field(
        default="aave_v3", description="the lending protocol of the market (its package)"
    )
    pool_version: Literal["3.0", "3.1", "3.2", "3.3", "3.4", "3.5", "3.6"] | None = Field(
        default=None,
        description="optional check: the Pool version read from POOL_REVISION() must be this one",
    )
    l1_fee_model: Literal["none", "op_stack", "arbitrum"] | None = Field(
        default=None,
        description="how the chain charges L1 data on top of L2 gas (default: from the chain id; "
        "none for unknown chains)",
    )
    native_price_asset: Address | None = Field(
        default=None,
        description="reserve whose price prices the chain's native token (default: WETH-like)",
    )
    replace_after_blocks: int = Field(
        default=2, ge=1, description="replace a transaction not mined after this many blocks"
    )
    failed_plan_cooldown_blocks: int = Field(
        default=20, ge=0, description="blocks to leave an account alone after a failed simulation"
    )

    @field_validator("rpc_url")
    @classmethod
    def _url(cls, value: SecretStr) -> SecretStr:
        return _check_url(value)

    @field_validator("rpc_fallback_urls")
    @classmethod
    def _urls(cls, values: list[SecretStr]) -> list[SecretStr]:
        return [_check_url(v) for v in values]

    @property
    def rpc_urls(self) -> list[str]:
        """Every endpoint, the preferred one first."""
        return [u.get_secret_value() for u in (self.rpc_url, *self.rpc_fallback_urls)]

    @field_validator("private_key")
    @classmethod
    def _key(cls, value: SecretStr | None) -> SecretStr | None:
        return _check_key(value)

    @model_validator(mode="after")
    def _one_key_source(self) -> Settings:
        sources = [
            n
            for n in ("private_key", "private_key_file", "keystore_file")
            if getattr(self, n) is not None
        ]
        if len(sources) > 1:
            raise ValueError(f"give one key source, not {' and '.join(sources)}")
        if (self.keystore_file is None) != (self.keystore_password_file is None):
            raise ValueError("keystore_file and keystore_password_file go together")
        return self

    @field_validator("bid_floor_gwei")
    @classmethod
    def _floor(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        if value is None:
            return None
        if info.data.get("priority_fee_gwei") is not None:
            raise ValueError(
                "give this (the least bid) or priority_fee_gwei (a fixed tip that never "
                "outbids), not both"
            )
        cap = info.data.get("max_priority_fee_gwei")
        if cap is not None and value > cap:
            raise ValueError("above max_priority_fee_gwei: give a floor within the tip cap")
        return value

    @model_validator(mode="after")
    def _market_address(self) -> Settings:
        key = _MARKET_KEY[self.protocol]
        if getattr(self, key) is None:
            raise ValueError(f"{key}: {_missing(key)} (needed with protocol = {self.protocol!r})")
        return self

    @property
    def aave_provider(self) -> str:
        """The PoolAddressesProvider (validated present when ``protocol = "aave_v3"``)."""
        if self.pool_addresses_provider is None:
            raise ConfigError(f"pool_addresses_provider: {_missing('pool_addresses_provider')}")
        return self.pool_addresses_provider

    @property
    def morpho_address(self) -> str:
        """The Morpho contract (validated present when ``protocol = "morpho_blue"``)."""
        if self.morpho is None:
            raise ConfigError(f"morpho: {_missing('morpho')}")
        return self.morpho


def _missing(key: str) -> str:
    hint = _FIX_HINTS.get(key, "a value")
    return f"missing; set KEEPER_{key.upper()} or `{key} = ...` in the config file ({hint})"


def _check_url(value: SecretStr) -> SecretStr:
    if not _URL_RE.match(value.get_secret_value().strip()):
        raise ValueError("expected an http(s):// or ws(s):// URL")
    return SecretStr(value.get_secret_value().strip())


def _check_key(value: SecretStr | None) -> SecretStr | None:
    """A 32-byte hex key, normalised to 0x-prefixed; the value itself never in the message."""
    if value is None:
        return None
    raw = value.get_secret_value().strip()
    if not _KEY_RE.match(raw):
        raise ValueError("expected 64 hex digits (optionally prefixed with 0x)")
    if int(raw, 16) == 0:
        raise ValueError("the zero key is not a valid private key")
    return SecretStr(raw if raw.startswith("0x") else "0x" + raw)


def check_key(value: SecretStr) -> SecretStr:
    """Validate a key read from elsewhere (a file); raises ValueError without the value."""
    checked = _check_key(value)
    if checked is None:  # pragma: no cover - a SecretStr in, a SecretStr out
        raise ValueError("no key")
    return checked


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found: pass an existing TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
    bad = [k for k in data if k != k.lower()]
    if bad:
        raise ConfigError(f"config file {path}: keys must be lower case, got {', '.join(bad)}")
    return data


def _describe(error: Mapping[str, Any]) -> str:
    key = ".".join(str(part) for part in error.get("loc", ())) or "settings"
    kind = error.get("type", "")
    if kind == "missing":
        return f"{key}: {_missing(key)}"
    if kind == "extra_forbidden":
        return f"{key}: unknown setting; remove it or check its spelling"
    msg = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    if key == "settings":  # a rule across keys: its message names them
        return msg
    return f"{key}: {msg} (set KEEPER_{key.upper()} or `{key}` in the config file)"


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build and validate the settings, or raise ConfigError listing every bad key.

    ``overrides`` are CLI flags (None means "not given"); they beat ``KEEPER_*`` variables,
    which beat the TOML file. An unknown ``KEEPER_*`` variable is an error (keeper.env_check).
    """
    check_environment(os.environ, Settings.model_fields)
    file_data = _read_toml(config_file) if config_file is not None else {}

    class _Layered(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            del dotenv_settings, file_secret_settings
            return (init_settings, env_settings, InitSettingsSource(settings_cls, file_data))

    try:
        layered = _Layered(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(_describe(e) for e in exc.errors())
        raise ConfigError(f"invalid configuration: {problems}") from None
    except SettingsError as exc:  # a list or dict variable that is not JSON
        match = re.search(r'field "(\w+)"', str(exc))
        key = match.group(1) if match else "settings"
        raise ConfigError(
            f"invalid configuration: {key}: KEEPER_{key.upper()} must be a JSON list, "
            f'e.g. ["value one", "value two"]'
        ) from None
    values = {name: getattr(layered, name) for name in Settings.model_fields}
    return Settings.model_construct(_fields_set=layered.model_fields_set, **values)
