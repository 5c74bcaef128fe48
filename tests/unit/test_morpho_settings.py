"""The Morpho market filters: allow-list or deny-list of market ids, and a minimum size."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from keeper.errors import ConfigError
from keeper.settings import load_settings

if TYPE_CHECKING:
    from keeper.settings import Settings

MORPHO = "0xBBBBBbbBBb9cC5e90e3b3Af64bdAF62C37EEFFCb"
ONE, TWO = "0x" + "AB" * 32, "0x" + "cd" * 32


def _load(**kw: Any) -> Settings:
    return load_settings(rpc_url="http://127.0.0.1:1", protocol="morpho_blue", morpho=MORPHO, **kw)


def test_an_allow_list_follows_only_its_markets_and_a_deny_list_all_but_its_own() -> None:
    """Ids are normalised to lower case; with an allow-list only its markets are followed, with
    a deny-list every market but its own, with neither every market.
    """
    allow = _load(morpho_markets=[ONE])
    assert allow.morpho_markets == [ONE.lower()]
    assert allow.follows(ONE.lower()) and not allow.follows(TWO)
    deny = _load(morpho_skip_markets=[ONE])
    assert not deny.follows(ONE) and deny.follows(TWO)
    assert _load().follows(ONE)


def test_the_market_list_comes_from_the_environment_as_json(monkeypatch) -> None:
    """KEEPER_MORPHO_MARKETS is a JSON list, like every list setting."""
    monkeypatch.setenv("KEEPER_MORPHO_MARKETS", f'["{TWO}"]')
    assert _load().morpho_markets == [TWO]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"morpho_markets": ["0x12"]}, r"morpho_markets\.0: expected a Morpho market id"),
        (
            {"morpho_markets": [ONE], "morpho_skip_markets": [TWO]},
            r"morpho_markets, morpho_skip_markets: give an allow-list or a deny-list, not both",
        ),
        ({"morpho_min_market_usd": -1}, r"morpho_min_market_usd: Input should be greater"),
    ],
)
def test_bad_filters_are_refused_naming_the_key(overrides: dict[str, object], message: str) -> None:
    """A malformed id, both lists at once, or a negative minimum size: a ConfigError naming
    the key and what to give instead.
    """
    with pytest.raises(ConfigError, match=message):
        _load(**overrides)


def test_the_filters_are_refused_with_another_protocol() -> None:
    """The Morpho filters mean nothing for Aave: giving one is an error naming it."""
    with pytest.raises(
        ConfigError,
        match=r'morpho_min_market_usd: only used with protocol = "morpho_blue"; remove it',
    ):
        load_settings(
            rpc_url="http://127.0.0.1:1", pool_addresses_provider=MORPHO, morpho_min_market_usd=5
        )
