"""Settings: sources and precedence, and clear exit-2 errors that never print a secret."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal

import pytest

from keeper.errors import ConfigError
from keeper.settings import load_settings

KEY = "0x" + "ab" * 32
PROVIDER = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("KEEPER_"):
            monkeypatch.delenv(name)


def test_env_beats_file_and_cli_beats_env(tmp_path, monkeypatch):
    """A TOML file sets defaults, KEEPER_* variables override it, CLI overrides win."""
    cfg = tmp_path / "k.toml"
    cfg.write_text(
        f'rpc_url = "http://127.0.0.1:1/file"\npool_addresses_provider = "{PROVIDER}"\n'
        'start_block = 5\nmin_profit_usd = "2.5"\n'
    )
    monkeypatch.setenv("KEEPER_START_BLOCK", "7")
    settings = load_settings(cfg)
    assert settings.start_block == 7
    assert settings.min_profit_usd == Decimal("2.5")
    assert settings.rpc_url.get_secret_value() == "http://127.0.0.1:1/file"
    assert load_settings(cfg, start_block=9).start_block == 9


def test_address_is_checksummed_and_key_normalised():
    """Addresses come back checksummed; a key without 0x gains it."""
    settings = load_settings(
        rpc_url="http://x", pool_addresses_provider=PROVIDER.lower(), private_key="ab" * 32
    )
    assert settings.pool_addresses_provider == PROVIDER
    assert settings.private_key is not None
    assert settings.private_key.get_secret_value() == KEY


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"pool_addresses_provider": PROVIDER}, "rpc_url"),
        ({"rpc_url": "http://x", "pool_addresses_provider": "0x1234"}, "pool_addresses_provider"),
        (
            {"rpc_url": "http://x", "pool_addresses_provider": PROVIDER, "private_key": "zz" * 32},
            "private_key",
        ),
        ({"rpc_url": "ftp://x", "pool_addresses_provider": PROVIDER}, "rpc_url"),
        (
            {"rpc_url": "http://x", "pool_addresses_provider": PROVIDER, "start_block": -1},
            "start_block",
        ),
    ],
)
def test_invalid_values_name_the_key(overrides, key):
    """Each invalid or missing value raises ConfigError naming the key and how to set it."""
    with pytest.raises(ConfigError) as err:
        load_settings(**overrides)
    assert key in str(err.value)
    assert f"KEEPER_{key.upper()}" in str(err.value)


def test_unknown_and_upper_case_keys_in_file(tmp_path):
    """A typo in the file is an error naming it, not silently ignored."""
    cfg = tmp_path / "k.toml"
    cfg.write_text('rpc_url = "http://x"\npool_adresses_provider = "0x1"\n')
    with pytest.raises(ConfigError, match="pool_adresses_provider: unknown setting"):
        load_settings(cfg)
    cfg.write_text('RPC_URL = "http://x"\n')
    with pytest.raises(ConfigError, match="lower case"):
        load_settings(cfg)
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "missing.toml")


def test_secrets_do_not_appear_in_repr():
    """repr/str of the settings hide the key and the URL."""
    settings = load_settings(
        rpc_url="https://node.example/v3/SECRETTOKEN",
        pool_addresses_provider=PROVIDER,
        private_key=KEY,
    )
    for text in (repr(settings), str(settings), str(settings.model_dump())):
        assert "SECRETTOKEN" not in text
        assert KEY[2:] not in text


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("KEEPER_")}
    return subprocess.run(
        [sys.executable, "-m", "keeper", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"KEEPER_POOL_ADDRESSES_PROVIDER": PROVIDER, "KEEPER_PRIVATE_KEY": KEY}, "rpc_url"),
        (
            {
                "KEEPER_RPC_URL": "http://127.0.0.1:9",
                "KEEPER_POOL_ADDRESSES_PROVIDER": "0xnothex",
                "KEEPER_PRIVATE_KEY": KEY,
            },
            "pool_addresses_provider",
        ),
        (
            {
                "KEEPER_RPC_URL": "http://127.0.0.1:9",
                "KEEPER_POOL_ADDRESSES_PROVIDER": PROVIDER,
                "KEEPER_PRIVATE_KEY": "0xNOTHEX" + "ab" * 28 + "SECRET",
            },
            "private_key",
        ),
    ],
)
@pytest.mark.parametrize("command", ["run", "scan"])
def test_cli_exits_2_naming_the_key_and_never_prints_it(env, key, command):
    """`keeper run/scan` with bad config exit 2; stderr names the key; no secret is printed."""
    result = _cli(command, env=env)
    assert result.returncode == 2, result.stderr
    assert key in result.stderr
    for secret in (KEY[2:], "SECRET", "0xNOTHEX"):
        assert secret not in result.stdout + result.stderr


def test_cli_wrong_chain_id_refuses_to_start():
    """A node that does not answer gives exit 1 (not a traceback); a bad CLI flag gives 2."""
    bad_flag = _cli("scan", "--below", "abc", env={})
    assert bad_flag.returncode == 2
    assert "--below" in bad_flag.stderr


@pytest.mark.parametrize(
    "name",
    [
        "devnet.toml",
        "ethereum.example.toml",
        "arbitrum.example.toml",
        "base.example.toml",
        "optimism.example.toml",
        "morpho-ethereum.example.toml",
        "morpho-base.example.toml",
    ],
)
def test_shipped_configs_load(name):
    """Every config file shipped in config/ is valid as it stands."""
    from pathlib import Path

    settings = load_settings(Path(__file__).resolve().parents[2] / "config" / name)
    if settings.protocol == "morpho_blue":
        assert settings.morpho_address == "0xBBBBBbbBBb9cC5e90e3b3Af64bdAF62C37EEFFCb"
    else:
        assert settings.aave_provider.startswith("0x")
    assert settings.private_key is None


def test_morpho_protocol_needs_the_morpho_address_not_the_provider(monkeypatch):
    """Protocol morpho_blue takes `morpho` (KEEPER_MORPHO) and no provider.

    Each protocol's missing address is an error naming its key; flash mode is accepted for
    Morpho (through MorphoLiquidator).
    """
    monkeypatch.setenv("KEEPER_RPC_URL", "http://127.0.0.1:8545")
    monkeypatch.delenv("KEEPER_POOL_ADDRESSES_PROVIDER", raising=False)
    monkeypatch.setenv("KEEPER_PROTOCOL", "morpho_blue")
    monkeypatch.setenv("KEEPER_MORPHO", "0xbbbbbbbbbb9cc5e90e3b3af64bdaf62c37eeffcb")
    settings = load_settings()
    assert settings.morpho_address == "0xBBBBBbbBBb9cC5e90e3b3Af64bdAF62C37EEFFCb"
    assert settings.pool_addresses_provider is None
    monkeypatch.delenv("KEEPER_MORPHO")
    with pytest.raises(ConfigError, match=r"morpho: missing; set KEEPER_MORPHO") as info:
        load_settings()
    assert "morpho_blue" in str(info.value)
    monkeypatch.setenv("KEEPER_MORPHO", "0xbbbbbbbbbb9cc5e90e3b3af64bdaf62c37eeffcb")
    monkeypatch.setenv("KEEPER_EXECUTION_MODE", "flash")
    assert load_settings().execution_mode == "flash"
    monkeypatch.delenv("KEEPER_EXECUTION_MODE")
    monkeypatch.delenv("KEEPER_MORPHO")
    monkeypatch.setenv("KEEPER_PROTOCOL", "aave_v3")
    with pytest.raises(ConfigError, match=r"pool_addresses_provider: missing"):
        load_settings()
