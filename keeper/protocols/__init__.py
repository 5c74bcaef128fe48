"""Protocol packages, each behind :class:`keeper.core.market.LendingMarket`.

``OPENERS`` names, per ``protocol`` setting, the function that connects and builds the market;
adding a protocol is its package and one entry here (loaded only when configured).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from keeper.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from keeper.chain.client import ChainClient
    from keeper.core.market import LendingMarket
    from keeper.settings import Settings

    Opener = Callable[[Settings], Awaitable[tuple[ChainClient, int, LendingMarket]]]

OPENERS = {
    "aave_v3": ("keeper.protocols.aave_v3.connect", "open_lending_market"),
    "morpho_blue": ("keeper.protocols.morpho_blue.lending_market", "open_lending_market"),
}


def opener(protocol: str) -> Opener:
    """The market opener of ``protocol`` (a ConfigError names the known ones)."""
    if protocol not in OPENERS:
        known = ", ".join(sorted(OPENERS))
        raise ConfigError(f"protocol: {protocol!r} is not supported; use one of: {known}")
    module, name = OPENERS[protocol]
    found: Opener = getattr(importlib.import_module(module), name)
    return found
