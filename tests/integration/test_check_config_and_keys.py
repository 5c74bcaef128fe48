"""`keeper check-config` and the key sources, against the devnet."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from eth_account import Account

from keeper.localnode.anvil import Anvil, AnvilOptions
from tests.integration.conftest import KEEPER_ADDRESS, KEEPER_KEY
from tests.support.rpc_proxy import RpcProxy

pytestmark = pytest.mark.integration


def _check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("KEEPER_")}
    return subprocess.run(
        [sys.executable, "-m", "keeper", "check-config"],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.asyncio
async def test_check_config_connects_and_redacts(devnet):
    """check-config reports the chain, the market, the keeper's address, the L1 fee model and
    the sentinel; the URL's secret path and the key appear nowhere in its output; a wrong chain
    id, or an L1 fee model the chain does not have, is exit 2.
    """
    async with RpcProxy(devnet.url) as proxy:
        url = proxy.url + "/v3/SECRET_TOKEN_123"
        env = {
            "KEEPER_RPC_URL": url,
            "KEEPER_PRIVATE_KEY": KEEPER_KEY,
            "KEEPER_POOL_ADDRESSES_PROVIDER": devnet.world.market.pool_addresses_provider,
            "KEEPER_CHAIN_ID": "31337",
        }
        result = await _to_thread(_check, env)
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["chain_id"] == 31337 and report["pool"] == devnet.world.market.pool
        assert report["keeper_address"] == KEEPER_ADDRESS
        assert report["l1_fee_model"] == "none" and report["price_oracle_sentinel"] is None
        assert report["settings"]["private_key"] == "**redacted**"
        for secret in ("SECRET_TOKEN_123", KEEPER_KEY[2:]):
            assert secret not in result.stdout + result.stderr
        wrong = await _to_thread(_check, {**env, "KEEPER_CHAIN_ID": "1"})
        assert wrong.returncode == 2 and "chain_id" in wrong.stderr
        assert "SECRET_TOKEN_123" not in wrong.stderr
        # An L1 fee model the chain does not have (no GasPriceOracle here): exit 2, key named.
        op = await _to_thread(_check, {**env, "KEEPER_L1_FEE_MODEL": "op_stack"})
        assert op.returncode == 2 and "l1_fee_model" in op.stderr


@pytest.mark.asyncio
async def test_fallback_endpoints_are_checked_and_redacted(devnet):
    """A fallback on another chain is exit 2 naming rpc_fallback_urls[0]; an unreachable one
    is a warning; a good one is listed redacted. No URL secret is printed.
    """
    base = {
        "KEEPER_RPC_URL": devnet.url,
        "KEEPER_POOL_ADDRESSES_PROVIDER": devnet.world.market.pool_addresses_provider,
    }
    with Anvil(AnvilOptions(chain_id=5)) as other:
        wrong = await _to_thread(
            _check,
            {**base, "KEEPER_RPC_FALLBACK_URLS": json.dumps([other.url + "/?key=SECRET_Q"])},
        )
    assert wrong.returncode == 2, wrong.stderr
    assert "rpc_fallback_urls[0]" in wrong.stderr and "chain 5" in wrong.stderr
    assert "SECRET_Q" not in wrong.stderr
    async with RpcProxy(devnet.url) as proxy:
        fallbacks = ["http://127.0.0.1:9/dead/SECRET_A", proxy.url + "/v3/SECRET_B"]
        ok = await _to_thread(_check, {**base, "KEEPER_RPC_FALLBACK_URLS": json.dumps(fallbacks)})
    assert ok.returncode == 0, ok.stderr
    report = json.loads(ok.stdout)
    nodes = report["nodes"]
    assert len(nodes) == 3 and nodes[1].startswith("http://127.0.0.1:9/")
    assert all("SECRET" not in n for n in nodes)
    assert all("SECRET" not in u for u in report["settings"]["rpc_fallback_urls"])
    assert "rpc_endpoint_unreachable" in ok.stderr
    for secret in ("SECRET_A", "SECRET_B"):
        assert secret not in ok.stdout + ok.stderr


async def _to_thread(fn, *args):
    import asyncio

    return await asyncio.to_thread(fn, *args)


def test_key_file_and_keystore(devnet, tmp_path):
    """The key may come from a file or from an encrypted keystore with a password file; a wrong
    password is exit 2 naming keystore_password_file.
    """
    base = {
        "KEEPER_RPC_URL": devnet.url,
        "KEEPER_POOL_ADDRESSES_PROVIDER": devnet.world.market.pool_addresses_provider,
    }
    key_file = tmp_path / "key"
    key_file.write_text(KEEPER_KEY + "\n")
    key_file.chmod(0o600)
    result = _check({**base, "KEEPER_PRIVATE_KEY_FILE": str(key_file)})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["keeper_address"] == KEEPER_ADDRESS
    keystore = tmp_path / "keystore.json"
    keystore.write_text(
        json.dumps(Account.encrypt(bytes.fromhex(KEEPER_KEY[2:]), "correct horse", iterations=2))
    )
    password = tmp_path / "password"
    password.write_text("correct horse")
    env = {
        **base,
        "KEEPER_KEYSTORE_FILE": str(keystore),
        "KEEPER_KEYSTORE_PASSWORD_FILE": str(password),
    }
    result = _check(env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["keeper_address"] == KEEPER_ADDRESS
    password.write_text("wrong")
    result = _check(env)
    assert result.returncode == 2 and "keystore_password_file" in result.stderr
    for secret in (KEEPER_KEY[2:], "correct horse"):
        assert secret not in result.stdout + result.stderr
