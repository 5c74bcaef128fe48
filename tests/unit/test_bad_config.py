"""Bad configuration, of many kinds: exit 2, the key named, no secret printed."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

KEY = "0x" + "ab" * 32
PROVIDER = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
GOOD = {
    "KEEPER_RPC_URL": "http://127.0.0.1:9",
    "KEEPER_POOL_ADDRESSES_PROVIDER": PROVIDER,
    "KEEPER_PRIVATE_KEY": KEY,
}


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("KEEPER_")}
    return subprocess.run(
        [sys.executable, "-m", "keeper", "check-config", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


CASES = [
    ("missing rpc_url", {k: v for k, v in GOOD.items() if k != "KEEPER_RPC_URL"}, None, "rpc_url"),
    (
        "bad address",
        {**GOOD, "KEEPER_POOL_ADDRESSES_PROVIDER": "0x12"},
        None,
        "pool_addresses_provider",
    ),
    ("non-hex key", {**GOOD, "KEEPER_PRIVATE_KEY": "0x" + "zz" * 32}, None, "private_key"),
    ("bad scheme", {**GOOD, "KEEPER_RPC_URL": "ftp://x"}, None, "rpc_url"),
    ("negative block", {**GOOD, "KEEPER_START_BLOCK": "-5"}, None, "start_block"),
    ("not a number", {**GOOD, "KEEPER_POLL_INTERVAL_S": "fast"}, None, "poll_interval_s"),
    ("bad mode", {**GOOD, "KEEPER_EXECUTION_MODE": "yolo"}, None, "execution_mode"),
    ("slippage too high", {**GOOD, "KEEPER_MAX_SLIPPAGE_BPS": "5000"}, None, "max_slippage_bps"),
    ("two key sources", {**GOOD, "KEEPER_PRIVATE_KEY_FILE": "never-read.key"}, None, "private_key"),
    (
        "keystore alone",
        {
            **{k: v for k, v in GOOD.items() if k != "KEEPER_PRIVATE_KEY"},
            "KEEPER_KEYSTORE_FILE": "never-read.json",
        },
        None,
        "keystore_password_file",
    ),
    (
        "unknown key in file",
        GOOD,
        'rpc_url = "http://127.0.0.1:9"\nmin_proft_usd = 3\n',
        "min_proft_usd",
    ),
    ("upper-case key", GOOD, 'RPC_URL = "http://127.0.0.1:9"\n', "lower case"),
    ("not TOML", GOOD, "rpc_url = = http\n", "not valid TOML"),
    ("bad pool version", {**GOOD, "KEEPER_POOL_VERSION": "3.9"}, None, "pool_version"),
    (
        "checkpoint every 0 blocks",
        {**GOOD, "KEEPER_CHECKPOINT_INTERVAL_BLOCKS": "0"},
        None,
        "checkpoint_interval_blocks",
    ),
    (
        "checkpoint to a URL",
        {**GOOD, "KEEPER_CHECKPOINT_PATH": "http://127.0.0.1:9/checkpoint"},
        None,
        "checkpoint_path",
    ),
    (
        "checkpoint in a missing directory",
        {**GOOD, "KEEPER_CHECKPOINT_PATH": "/nonexistent-volume/checkpoint"},
        None,
        "checkpoint_path: directory /nonexistent-volume does not exist",
    ),
    (
        "checkpoint source of another scheme",
        {**GOOD, "KEEPER_CHECKPOINT_SOURCE": "ftp://127.0.0.1/checkpoint"},
        None,
        "checkpoint_source",
    ),
    (
        "bad fallback url",
        {**GOOD, "KEEPER_RPC_FALLBACK_URLS": '["http://127.0.0.1:9", "localhost:8545"]'},
        None,
        "rpc_fallback_urls",
    ),
    (
        "fallbacks not a list",
        {**GOOD, "KEEPER_RPC_FALLBACK_URLS": "http://x"},
        None,
        "rpc_fallback",
    ),
    ("negative budget", {**GOOD, "KEEPER_BREAKER_LOSS_BUDGET_USD": "-1"}, None, "loss_budget"),
    (
        "deviation out of range",
        {**GOOD, "KEEPER_BREAKER_MAX_DEX_DEVIATION_BPS": "20000"},
        None,
        "breaker_max_dex_deviation_bps",
    ),
    ("zero shutdown", {**GOOD, "KEEPER_SHUTDOWN_TIMEOUT_S": "0"}, None, "shutdown_timeout_s"),
    ("bad factory", {**GOOD, "KEEPER_UNISWAP_FACTORY": "uniswap"}, None, "uniswap_factory"),
    ("share above all", {**GOOD, "KEEPER_BID_SHARE_BPS": "10001"}, None, "bid_share_bps"),
    ("share not a number", {**GOOD, "KEEPER_BID_SHARE_BPS": "half"}, None, "bid_share_bps"),
    ("negative floor", {**GOOD, "KEEPER_BID_FLOOR_GWEI": "-1"}, None, "bid_floor_gwei"),
    (
        "floor above the tip cap",
        {**GOOD, "KEEPER_BID_FLOOR_GWEI": "5", "KEEPER_MAX_PRIORITY_FEE_GWEI": "3"},
        None,
        "bid_floor_gwei",
    ),
    (
        "floor and a fixed tip",
        {**GOOD, "KEEPER_BID_FLOOR_GWEI": "1", "KEEPER_PRIORITY_FEE_GWEI": "2"},
        None,
        "bid_floor_gwei",
    ),
    ("watch not a boolean", {**GOOD, "KEEPER_BID_WATCH": "sometimes"}, None, "bid_watch"),
    (
        "lease renewed too rarely",
        {**GOOD, "KEEPER_LEASE_TTL_S": "4", "KEEPER_LEASE_RENEW_S": "2"},
        None,
        "lease_renew_s (2.0) must be below half of lease_ttl_s (4.0)",
    ),
    (
        "journal url of another database",
        {**GOOD, "KEEPER_JOURNAL_URL": "mysql://keeper:Passw0rdSECRET@127.0.0.1/keeper"},
        None,
        "journal_url: expected a postgresql://",
    ),
    ("zero lease ttl", {**GOOD, "KEEPER_LEASE_TTL_S": "0"}, None, "lease_ttl_s"),
]


@pytest.mark.parametrize(("name", "env", "toml", "named"), CASES, ids=[c[0] for c in CASES])
def test_bad_config_exits_2_naming_the_key(tmp_path, name, env, toml, named):
    """Each kind of bad value or file exits 2 with a message naming the key, never the key."""
    args: list[str] = []
    if toml is not None:
        cfg = tmp_path / "keeper.toml"
        cfg.write_text(toml)
        args = ["--config", str(cfg)]
    result = _run(env, *args)
    assert result.returncode == 2, (name, result.stderr)
    assert named in result.stderr
    assert KEY[2:] not in result.stdout + result.stderr
    assert "Passw0rdSECRET" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_missing_config_file(tmp_path):
    """A --config path that does not exist is exit 2, naming the file."""
    result = _run(GOOD, "--config", str(tmp_path / "nope.toml"))
    assert result.returncode == 2 and "nope.toml" in result.stderr
