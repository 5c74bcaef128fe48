"""A mistyped KEEPER_* variable and a missing Anvil stop the keeper at start with exit 2."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from keeper.env_check import check_environment, nearest, unknown_variables
from keeper.errors import ConfigError
from keeper.settings import Settings
from keeper.shadow.anvil import ANVIL_SETTING, find_anvil

KEY = "0x" + "ab" * 32
PROVIDER = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
FIELDS = list(Settings.model_fields)


def _keeper(env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    base = {k: v for k, v in os.environ.items() if not k.upper().startswith("KEEPER_")}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "keeper", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done, time.monotonic() - started


def test_unknown_keeper_variables_name_the_nearest_setting():
    """Typos are found case-insensitively and matched to the setting meant; others are ignored."""
    env = {
        "KEEPER_DRYRUN": "true",
        "KEEPER_PRIVAT_KEY": "x",
        "keeper_rpc_url": "http://x",
        "KEEPER_ANVIL_BIN": "/x",
        "PATH": "/bin",
        "CI": "1",
    }
    assert unknown_variables(env, FIELDS) == ["KEEPER_DRYRUN", "KEEPER_PRIVAT_KEY"]
    assert nearest("KEEPER_DRYRUN", FIELDS) == "dry_run"
    assert nearest("KEEPER_PRIVAT_KEY", FIELDS) == "private_key"
    assert nearest("KEEPER_ANVILBIN", FIELDS) == "KEEPER_ANVIL_BIN"
    with pytest.raises(ConfigError) as err:
        check_environment(env, FIELDS)
    assert "KEEPER_DRYRUN" in str(err.value) and "dry_run (KEEPER_DRY_RUN)" in str(err.value)


def test_the_test_suites_own_variables_are_known():
    """What the suite and the deploy files set (tests/conftest.py, the Dockerfile, the env
    example) and what is read outside the settings is not reported.
    """
    root = Path(__file__).resolve().parents[2]
    names = {"KEEPER_OPS_PORT", "KEEPER_BREAKER_MAX_HEAD_LAG_S", "KEEPER_NODE_MODULES"}
    for path in ("Dockerfile", "deploy/keeper.env.example", "deploy/docker-compose.yml"):
        text = (root / path).read_text()
        names |= set(re.findall(r"\bKEEPER_[A-Z0-9_]*[A-Z0-9]", text))
    assert unknown_variables(dict.fromkeys(names, "1"), FIELDS) == []


def test_a_mistyped_variable_exits_2_and_nothing_starts(tmp_path):
    """KEEPER_DRYRUN=true (meant: KEEPER_DRY_RUN) stops `keeper run` before it connects or
    journals: exit 2, the message names dry_run, no journal file is created.
    """
    journal = tmp_path / "j.sqlite"
    done, took = _keeper(
        {
            "KEEPER_RPC_URL": "http://127.0.0.1:9",
            "KEEPER_POOL_ADDRESSES_PROVIDER": PROVIDER,
            "KEEPER_PRIVATE_KEY": KEY,
            "KEEPER_JOURNAL_PATH": str(journal),
            "KEEPER_DRYRUN": "true",
        },
        "run",
    )
    assert done.returncode == 2, done.stderr
    assert "KEEPER_DRYRUN" in done.stderr and "dry_run" in done.stderr
    assert KEY[2:] not in done.stderr + done.stdout
    assert not journal.exists() and not Path(str(journal) + ".dry-run").exists()
    assert took < 30


def test_a_wrong_anvil_setting_exits_2_naming_it(tmp_path):
    """Shadow mode with KEEPER_ANVIL_BIN pointing nowhere exits 2 at once, naming the setting,
    before any connection (the node URL is a closed port: no retries are waited out).
    """
    done, took = _keeper(
        {
            "KEEPER_RPC_URL": "http://127.0.0.1:9",
            "KEEPER_POOL_ADDRESSES_PROVIDER": PROVIDER,
            "KEEPER_PRIVATE_KEY": KEY,
            "KEEPER_JOURNAL_PATH": str(tmp_path / "j.sqlite"),
            "KEEPER_DRY_RUN": "true",
            ANVIL_SETTING: str(tmp_path / "no-anvil"),
        },
        "run",
    )
    assert done.returncode == 2, done.stderr
    assert ANVIL_SETTING in done.stderr
    assert took < 30


def test_anvil_is_found_from_the_setting_then_path(tmp_path, monkeypatch):
    """KEEPER_ANVIL_BIN wins; unset, an `anvil` on PATH is used."""
    binary = tmp_path / "bin" / "anvil"
    binary.parent.mkdir()
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.setenv(ANVIL_SETTING, str(binary))
    assert find_anvil() == binary
    monkeypatch.delenv(ANVIL_SETTING)
    monkeypatch.setenv("PATH", f"{binary.parent}:{os.environ['PATH']}")
    assert find_anvil() == binary
    monkeypatch.setenv(ANVIL_SETTING, str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match=ANVIL_SETTING):
        find_anvil()


def test_each_development_key_signs_as_its_account():
    """DEV_KEYS[i] is the key of DEV_ACCOUNTS[i] (Anvil's well-known accounts)."""
    from eth_account import Account

    from keeper.localnode.anvil import DEV_ACCOUNTS, DEV_KEYS

    assert len(DEV_KEYS) == len(DEV_ACCOUNTS)
    for key, account in zip(DEV_KEYS, DEV_ACCOUNTS, strict=True):
        assert Account.from_key(key).address == account
