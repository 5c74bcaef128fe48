"""``keeper check-config``: validate, connect, and show the effective settings, secrets redacted."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from keeper.chain.abi import Codec
from keeper.chain.l1_fee import L1FeeModel, L1FeeReader, resolve_model
from keeper.chain.redact import redact_url
from keeper.errors import ConfigError, RpcError
from keeper.execution.signer import Signer
from keeper.keys import resolve_key
from keeper.ops.checkpoint_store import FileCheckpointStore, open_source
from keeper.protocols.aave_v3.connect import connect
from keeper.protocols.aave_v3.sentinel import read_sentinel_address
from keeper.submission.endpoints import parse_endpoint

if TYPE_CHECKING:
    from keeper.chain.client import ChainClient
    from keeper.settings import Settings

LIQUIDATOR = Codec.named("FlashLiquidator")
MORPHO_LIQUIDATOR = Codec.named("MorphoLiquidator")
REDACTED = "**redacted**"


_URLS = ("rpc_url", "rpc_fallback_urls", "mev_share_stream_url", "mev_share_urls")


def effective_settings(settings: Settings) -> dict[str, Any]:
    """Every setting as JSON-friendly values; secrets replaced, URLs reduced to host and port."""
    out: dict[str, Any] = {}
    for name, value in settings.model_dump().items():
        if isinstance(value, list):
            out[name] = [_shown(name, v) for v in value]
        else:
            out[name] = _shown(name, value)
    return out


def _shown(name: str, value: Any) -> Any:
    if name in _URLS and isinstance(value, SecretStr):
        return redact_url(value.get_secret_value())
    if name in ("bundle_builders", "private_tx_urls") and isinstance(value, SecretStr):
        endpoint = parse_endpoint(value.get_secret_value())
        return f"{endpoint.dialect.value}:{endpoint.label}"
    if isinstance(value, SecretStr):
        return REDACTED
    if isinstance(value, Decimal):
        return str(value)
    return value


async def _has_code(client: ChainClient, address: str) -> bool:
    code = await client.request("eth_getCode", [address, "latest"])
    return isinstance(code, str) and len(code) > 2


async def _check_flash(
    client: ChainClient,
    settings: Settings,
    chain_id: int,
    key_address: str | None,
    *,
    quoter: bool = True,
) -> str:
    """Our contract (and in flash mode the quoter) exist, the keeper's key owns the contract."""
    names = ("flash_liquidator", "uniswap_quoter") if quoter else ("flash_liquidator",)
    for name in names:
        address = getattr(settings, name)
        if address is None or not await _has_code(client, address):
            raise ConfigError(f"{name}: no contract at {address} on chain {chain_id}")
    contract = str(settings.flash_liquidator)
    try:
        raw = await client.call(contract, LIQUIDATOR.encode("owner"))
    except RpcError:
        raise ConfigError(
            f"flash_liquidator: {contract} has no owner(): not our flash contract; deploy it "
            "with `keeper deploy-liquidator`"
        ) from None
    (owner,) = LIQUIDATOR.decode("owner", raw)
    if key_address is not None and owner != key_address:
        raise ConfigError(
            f"flash_liquidator: owned by {owner}, not by the keeper's key {key_address}"
        )
    return contract


async def check_config(settings: Settings) -> dict[str, Any]:
    """Raise ConfigError (exit 2) on anything wrong; return a report of what was checked."""
    key_address = None
    if any(
        getattr(settings, n) is not None
        for n in ("private_key", "private_key_file", "keystore_file")
    ):
        key_address = Signer(resolve_key(settings)).address
    if settings.checkpoint_path is not None:
        FileCheckpointStore(settings.checkpoint_path)  # its directory exists (a volume)
    if settings.checkpoint_source is not None:
        open_source(settings.checkpoint_source)
    if settings.protocol == "morpho_blue":
        return await _check_morpho(settings, key_address)
    client, chain_id, market = await connect(settings)
    try:
        head = await client.block_number()
        flash = settings.execution_mode == "flash"
        if flash or (settings.flash_liquidator is not None and not settings.inventory_direct):
            await _check_flash(client, settings, chain_id, key_address, quoter=flash)
        configured = None if settings.l1_fee_model is None else L1FeeModel(settings.l1_fee_model)
        l1_model = resolve_model(configured, chain_id)
        await L1FeeReader(client, l1_model).check(market.pool)
        sentinel = await read_sentinel_address(client, market.addresses_provider, head)
    finally:
        await client.close()
    return {
        "ok": True,
        "chain_id": chain_id,
        "head_block": head,
        "node": client.label,
        "nodes": client.labels,
        "pool": market.pool,
        "oracle": market.oracle,
        "price_oracle_sentinel": sentinel,
        "l1_fee_model": l1_model.value,
        "keeper_address": key_address,
        "settings": effective_settings(settings),
    }


async def _check_morpho(settings: Settings, key_address: str | None) -> dict[str, Any]:
    """Check ``protocol = "morpho_blue"``: the chain and Morpho's code at ``morpho``.

    In flash mode also a MorphoLiquidator of this Morpho, of the current version, owned by the
    keeper's key; with ``coinbase_payment`` the report gives its ether for bids.
    """
    from keeper.protocols.morpho_blue.connect import connect as connect_morpho  # noqa: PLC0415

    client, chain_id, morpho = await connect_morpho(settings)
    extra: dict[str, Any] = {}
    try:
        head = await client.block_number()
        if settings.execution_mode == "flash":
            contract = await _check_flash(client, settings, chain_id, key_address)
            try:
                raw = await client.call(contract, MORPHO_LIQUIDATOR.encode("morpho"))
                (target,) = MORPHO_LIQUIDATOR.decode("morpho", raw)
            except RpcError:
                target = None
            if target != morpho:
                raise ConfigError(
                    f"flash_liquidator: {contract} is not a MorphoLiquidator of {morpho}; deploy "
                    "one with `keeper deploy-liquidator` (protocol morpho_blue)"
                )
            # The dispatcher pushes each selector (PUSH4): an older MorphoLiquidator (before
            # coinbase bids) has another `liquidate`, which the keeper's calls would miss.
            code = await client.request("eth_getCode", [contract, "latest"])
            if "63" + MORPHO_LIQUIDATOR.selector("liquidate") not in str(code).lower():
                raise ConfigError(
                    f"flash_liquidator: {contract} is an older MorphoLiquidator (its liquidate "
                    "takes no coinbase bid); deploy the current one with `keeper deploy-liquidator`"
                )
            if settings.coinbase_payment:
                extra["bid_float_wei"] = await client.get_balance(contract)
    finally:
        await client.close()
    return {
        "ok": True,
        "chain_id": chain_id,
        "head_block": head,
        "node": client.label,
        "nodes": client.labels,
        "morpho": morpho,
        "keeper_address": key_address,
        **extra,
        "settings": effective_settings(settings),
    }
