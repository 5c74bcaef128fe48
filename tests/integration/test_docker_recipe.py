"""The Docker image's recipe, run without Docker: build the wheel from a clean checkout in a
fresh virtualenv, install it alone into another, and start the keeper from it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
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
    the wheel built by deploy/build-wheel.sh installs alone (no node_modules, no source tree)
    and `keeper --help` runs from a directory without the repository.
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
