"""The gas token's price: which market asset stands for the chain's native token."""

from __future__ import annotations

from typing import TYPE_CHECKING

from keeper.errors import ConfigError, KeeperError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from keeper.core.market import AssetInfo

WRAPPED_NATIVE_SYMBOLS = {"WETH", "WMATIC", "WPOL", "WAVAX", "WBNB", "WXDAI", "WMNT", "WS", "WFTM"}


class NativeAssetUnknownError(KeeperError):
    """Some symbols could not be read yet: the native asset is not known this block."""


def native_asset(assets: Mapping[str, AssetInfo], configured: str | None) -> str:
    """The reserve that prices the native token (gas): configured, or the wrapped native.

    A wrong setting is a ConfigError; symbols that could not be read (a node fault) only
    postpone the answer (NativeAssetUnknownError): they are read again next block.
    """
    if configured is not None:
        match = next((a for a in assets if a.lower() == configured.lower()), None)
        if match is None:
            raise ConfigError(
                f"native_price_asset: {configured} is not a reserve of this market; set it to "
                "the reserve whose price is the chain's native token price"
            )
        return match
    for asset, info in assets.items():
        if info.symbol is not None and info.symbol.upper() in WRAPPED_NATIVE_SYMBOLS:
            return asset
    unread = [a for a, info in assets.items() if info.symbol is None]
    if unread:
        raise NativeAssetUnknownError(f"symbols of {len(unread)} reserves not read yet")
    raise ConfigError(
        "native_price_asset: no wrapped-native reserve found; set native_price_asset to the "
        "reserve whose price is the chain's native token price"
    )
