"""Locating the pinned Node toolchain: the Anvil binary and the npm artifact packages."""

from __future__ import annotations

import os
from pathlib import Path

from keeper.errors import DevnetError

_INSTALL_HINT = "run `npm install` in the repository (see README) or set KEEPER_NODE_MODULES"


def node_modules() -> Path:
    """The node_modules folder holding the pinned packages."""
    override = os.environ.get("KEEPER_NODE_MODULES")
    candidates = [Path(override)] if override else []
    candidates.append(Path(__file__).resolve().parents[2] / "node_modules")
    candidates.append(Path.cwd() / "node_modules")
    for path in candidates:
        if (path / "@aave" / "core-v3").is_dir():
            return path
    raise DevnetError(f"the npm packages are not installed: {_INSTALL_HINT}")


def anvil_binary() -> Path:
    """The Anvil binary shipped inside @foundry-rs/anvil-linux-amd64.

    It is run directly, not through the node wrapper in .bin/, so signals reach Anvil itself.
    """
    override = os.environ.get("KEEPER_ANVIL_BIN")
    if override:
        path = Path(override)
    else:
        path = node_modules() / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
    if not path.is_file() or not os.access(path, os.X_OK):
        raise DevnetError(f"Anvil binary not found at {path}: {_INSTALL_HINT}")
    return path
