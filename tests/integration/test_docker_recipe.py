"""The Docker image's recipe, run without Docker: build the wheel from a clean checkout in a
fresh virtualenv, install it alone into another, and start the keeper from it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def _sh(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )


def test_image_recipe_builds_and_the_installed_keeper_starts(tmp_path):
    """Only the files git tracks are copied (as COPY in the Dockerfile sees a clean checkout);
    the wheel built by deploy/build-wheel.sh (distribution liquidation-keeper) installs alone
    (no node_modules, no source tree) and `keeper --help` runs from a directory without the
    repository.
    """
    files = subprocess.run(
        [shutil.which("git") or "git", "ls-files"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    src = tmp_path / "src"
    for name in files:
        if name.startswith(("pyproject.toml", "README.md", "keeper/", "contracts_abi/", "deploy/")):
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, src / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEEPER_", "VIRTUAL_ENV"))}
    builder, runtime = tmp_path / "builder", tmp_path / "runtime"
    for venv in (builder, runtime):
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env_b = {**env, "PATH": f"{builder / 'bin'}:{env['PATH']}"}
    built = _sh(["sh", "deploy/build-wheel.sh", str(tmp_path / "dist")], src, env_b)
    assert built.returncode == 0, built.stdout + built.stderr
    env_r = {**env, "PATH": f"{runtime / 'bin'}:{env['PATH']}"}
    installed = _sh(
        ["sh", str(src / "deploy/install-wheel.sh"), str(tmp_path / "dist")], tmp_path, env_r
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert "keeper 0.1.0" in installed.stdout
    assert [w.name for w in (tmp_path / "dist").iterdir()] == [
        "liquidation_keeper-0.1.0-py3-none-any.whl"
    ]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    helped = _sh([str(runtime / "bin" / "keeper"), "--help"], elsewhere, env_r)
    assert helped.returncode == 0 and "check-config" in helped.stdout
    abi = _sh(
        [
            str(runtime / "bin" / "python"),
            "-c",
            "from keeper.chain.abi import abi_dir; print(abi_dir())",
        ],
        elsewhere,
        env_r,
    )
    assert abi.returncode == 0 and str(runtime) in abi.stdout
    _installed_shadow_mode_needs_anvil(runtime / "bin" / "keeper", elsewhere, env_r)


def _installed_shadow_mode_needs_anvil(keeper: Path, cwd: Path, env: dict[str, str]) -> None:
    """Installed outside the repository, shadow mode without Anvil exits 2 at start naming
    KEEPER_ANVIL_BIN (no crash loop, no connection: the node is a closed port); with the npm
    package's binary on PATH, as the image installs it, it gets past that check.
    """
    run_env = {
        **env,
        "KEEPER_RPC_URL": "http://127.0.0.1:9",
        "KEEPER_POOL_ADDRESSES_PROVIDER": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
        "KEEPER_PRIVATE_KEY": "0x" + "ab" * 32,
        "KEEPER_DRY_RUN": "true",
        "KEEPER_RPC_RETRY_S": "0",
        "KEEPER_JOURNAL_PATH": str(cwd / "journal.sqlite"),
        "KEEPER_OPS_PORT": "0",
    }
    assert shutil.which("anvil", path=env["PATH"]) is None, "an anvil on PATH hides the case"
    started = time.monotonic()
    missing = _sh([str(keeper), "run"], cwd, run_env)
    assert missing.returncode == 2, missing.stderr
    assert "KEEPER_ANVIL_BIN" in missing.stderr
    assert time.monotonic() - started < 30
    npm_anvil = REPO / "node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
    bin_dir = cwd / "usr-local-bin"
    bin_dir.mkdir()
    (bin_dir / "anvil").symlink_to(npm_anvil)
    found = _sh([str(keeper), "run"], cwd, {**run_env, "PATH": f"{bin_dir}:{env['PATH']}"})
    assert "KEEPER_ANVIL_BIN" not in found.stderr, found.stderr
    assert found.returncode == 1, found.stderr  # the closed node port, after the check


def test_the_image_ships_anvil_from_the_pinned_npm_package():
    """The Dockerfile has an Anvil build stage installing the lockfile's version of the npm
    binary package, and copies the binary onto the runtime image's PATH. The base images are
    build arguments defaulting to the official node and python images (CI passes its own).
    """
    dockerfile = (REPO / "Dockerfile").read_text()
    lock = json.loads((REPO / "package-lock.json").read_text())
    version = lock["packages"]["node_modules/@foundry-rs/anvil-linux-amd64"]["version"]
    assert re.search(r"^ARG NODE_IMAGE=node:20-slim$", dockerfile, re.MULTILINE)
    assert re.search(r"^ARG PYTHON_IMAGE=python:3.11-slim$", dockerfile, re.MULTILINE)
    assert re.search(r"^FROM \$\{NODE_IMAGE\} AS anvil$", dockerfile, re.MULTILINE)
    assert f"ARG ANVIL_VERSION={version}\n" in dockerfile
    assert '"@foundry-rs/anvil-linux-amd64@${ANVIL_VERSION}"' in dockerfile
    assert "COPY --from=anvil /usr/local/bin/anvil /usr/local/bin/anvil" in dockerfile
    runtime = dockerfile[dockerfile.rindex("FROM ${PYTHON_IMAGE}") :]
    assert "COPY --from=anvil" in runtime and "node" not in runtime.split("COPY --from=anvil")[0]
