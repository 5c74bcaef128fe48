"""Submission settings: channels, endpoints and the searcher key; bad ones exit 2, unprinted."""

from __future__ import annotations

import os

import pytest

from keeper.errors import ConfigError
from keeper.settings import load_settings
from keeper.submission.endpoints import Dialect, parse_endpoint
from keeper.submission.wiring import open_channels
from tests.unit.test_settings import KEY, PROVIDER, _cli

SEARCHER = "0x" + "cd" * 32
BASE: dict[str, object] = {"rpc_url": "http://127.0.0.1:1", "pool_addresses_provider": PROVIDER}
AGGREGATOR = "0x" + "ab" * 20
SVR: dict[str, object] = {
    "svr_aggregators": [AGGREGATOR],
    "mev_share_stream_url": "https://mev-share.example/KEY1",
    "mev_share_urls": ["https://relay.example/KEY2"],
    "searcher_key": SEARCHER,
    "flash_liquidator": "0x" + "fe" * 20,
}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("KEEPER_"):
            monkeypatch.delenv(name)


def test_defaults_send_through_the_public_mempool_only():
    """With no submission settings, the public mempool is the one channel."""
    settings = load_settings(None, **BASE)
    assert settings.public_mempool is True
    channels = open_channels(settings, object(), None, "0x" + "11" * 20)  # type: ignore[arg-type]
    assert [c.name for c in channels] == ["public"]


def test_several_channels_at_once_in_order(monkeypatch):
    """Builders (with dialects) and a private RPC from KEEPER_* variables: public, bundle and
    private_tx channels, all three; a dry run's fork gets the public one only.
    """
    monkeypatch.setenv(
        "KEEPER_BUNDLE_BUILDERS", '["https://relay.example/k", "titan:https://titan.example"]'
    )
    monkeypatch.setenv("KEEPER_PRIVATE_TX_URLS", '["https://protect.example/fast"]')
    monkeypatch.setenv("KEEPER_SEARCHER_KEY", SEARCHER[2:])
    settings = load_settings(None, **BASE)
    assert settings.searcher_key is not None
    assert settings.searcher_key.get_secret_value() == SEARCHER
    channels = open_channels(settings, object(), None, "0x" + "11" * 20)  # type: ignore[arg-type]
    assert [c.name for c in channels] == ["public", "bundle", "private_tx"]
    fork = open_channels(settings, object(), None, "0x" + "11" * 20, fork=True)  # type: ignore[arg-type]
    assert [c.name for c in fork] == ["public"]


def test_endpoint_dialects_and_their_requests():
    """A bare URL is flashbots; titan adds refundPercent; beaver cancels with empty txs;
    plain carries no replacementUuid, cannot cancel and is not signed. Labels are redacted.
    """
    flashbots = parse_endpoint("https://relay.example/SECRET")
    assert flashbots.dialect is Dialect.FLASHBOTS and "SECRET" not in flashbots.label
    assert flashbots.bundle(["0x01"], 16, "u") == {
        "txs": ["0x01"],
        "blockNumber": "0x10",
        "replacementUuid": "u",
    }
    assert flashbots.cancel("u", 16) == ("eth_cancelBundle", [{"replacementUuid": "u"}])
    beaver = parse_endpoint("beaver:https://rpc.beaver.example")
    assert beaver.cancel("u", 16) == (
        "eth_sendBundle",
        [{"txs": [], "blockNumber": "0x10", "replacementUuid": "u"}],
    )
    plain = parse_endpoint("plain:https://b.example")
    assert "replacementUuid" not in plain.bundle(["0x01"], 16, "u")
    assert plain.cancel("u", 16) is None and not plain.signed
    with pytest.raises(ValueError, match="dialect"):
        parse_endpoint("nosuch:https://b.example")


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"public_mempool": False}, "public_mempool"),
        ({"bundle_builders": ["https://relay.example"]}, "searcher_key"),
        (
            {"bundle_builders": ["https://relay.example"], "searcher_key": "zz"},
            "searcher_key",
        ),
        (
            {"bundle_builders": ["https://relay.example"], "searcher_key": KEY, "private_key": KEY},
            "searcher_key",
        ),
        ({"bundle_builders": ["ftp://relay.example"], "searcher_key": SEARCHER}, "bundle_builders"),
        ({"bundle_stale_blocks": 0}, "bundle_stale_blocks"),
        ({"svr_aggregators": [AGGREGATOR], "searcher_key": SEARCHER}, "mev_share_stream_url"),
        (
            {"mev_share_urls": ["https://relay.example"], "searcher_key": SEARCHER},
            "svr_aggregators",
        ),
        ({**SVR, "svr_aggregators": ["0x1234"]}, "svr_aggregators"),
        ({**SVR, "mev_share_urls": ["relay.example"]}, "mev_share_urls"),
        ({**SVR, "searcher_key": None}, "searcher_key"),
        ({**SVR, "svr_max_blocks": 0}, "svr_max_blocks"),
    ],
)
def test_bad_submission_settings_name_the_key(overrides, key):
    """Each bad combination is a ConfigError naming the key (never the value)."""
    with pytest.raises(ConfigError) as err:
        load_settings(None, **BASE, **overrides)
    assert key in str(err.value)
    assert KEY[2:] not in str(err.value)


def test_cli_exits_2_without_any_channel():
    """`keeper run` with public_mempool=false and no private channel exits 2 naming it."""
    env = {
        "KEEPER_RPC_URL": "http://127.0.0.1:9",
        "KEEPER_POOL_ADDRESSES_PROVIDER": PROVIDER,
        "KEEPER_PRIVATE_KEY": KEY,
        "KEEPER_PUBLIC_MEMPOOL": "false",
    }
    result = _cli("run", env=env)
    assert result.returncode == 2, result.stderr
    assert "public_mempool" in result.stderr
    assert KEY[2:] not in result.stdout + result.stderr


def test_check_config_shows_endpoints_redacted_with_their_dialect():
    """`keeper check-config` shows each builder as dialect:scheme://host/*** and never the key
    in its path, nor the searcher key.
    """
    from keeper.checks import effective_settings

    settings = load_settings(
        None,
        **BASE,
        bundle_builders=["titan:https://rpc.titan.example/APIKEY"],
        private_tx_urls=["https://protect.example"],
        searcher_key=SEARCHER,
    )
    shown = effective_settings(settings)
    assert shown["bundle_builders"] == ["titan:https://rpc.titan.example/***"]
    assert shown["private_tx_urls"] == ["flashbots:https://protect.example"]
    assert SEARCHER[2:] not in str(shown) and "APIKEY" not in str(shown)


def test_svr_settings_build_the_mev_share_channel_and_show_redacted():
    """SVR back-running: the aggregators (lower-cased), the stream and relays redacted in
    check-config, and a MEV-Share back-run channel (none for a dry run's fork).
    """
    from keeper.checks import effective_settings
    from keeper.submission.wiring import open_backrun_channel

    settings = load_settings(
        None,
        **BASE,
        **{**SVR, "svr_aggregators": ["0x" + AGGREGATOR[2:].upper()]},
    )
    assert settings.svr_aggregators == [AGGREGATOR]
    shown = effective_settings(settings)
    assert shown["mev_share_stream_url"] == "https://mev-share.example/***"
    assert shown["mev_share_urls"] == ["https://relay.example/***"]
    assert "KEY1" not in str(shown) and "KEY2" not in str(shown)
    channel = open_backrun_channel(settings, object(), None)  # type: ignore[arg-type]
    assert channel is not None and channel.name == "mev_share"
    assert open_backrun_channel(settings, object(), None, fork=True) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"flash_liquidator": None, "inventory_direct": True}, "svr_aggregators"),
        ({"inventory_direct": True}, "svr_aggregators"),
        ({"flash_liquidator": None}, "flash_liquidator"),
    ],
)
def test_svr_needs_our_contract(overrides, key):
    """An SVR back-run is one transaction through our contract: without it (or with the
    direct inventory path) building the keeper is a ConfigError naming the key.
    """
    from keeper.mode_checks import check_execution_settings

    settings = load_settings(None, **BASE, **{**SVR, **overrides})
    with pytest.raises(ConfigError, match=key):
        check_execution_settings(settings)
