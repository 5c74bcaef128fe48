"""Where shadow mode finds Anvil: ``KEEPER_ANVIL_BIN``, then ``PATH``, then npm.

The npm install is the repository's ``node_modules``. Found nowhere is a configuration error
at start (exit 2), never a crash loop.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from keeper.errors import ConfigError, DevnetError
from keeper.localnode.toolchain import node_modules

ANVIL_SETTING = "KEEPER_ANVIL_BIN"
_NPM_PATH = ("@foundry-rs", "anvil-linux-amd64", "bin", "anvil")


def _runnable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_anvil() -> Path:
    """The Anvil binary shadow mode runs its fork with; ConfigError naming the setting if none.

    A ``KEEPER_ANVIL_BIN`` that is set but wrong is an error of its own (not a fall-through
    to another Anvil the operator did not choose).
    """
    override = os.environ.get(ANVIL_SETTING)
    if override:
        path = Path(override)
        if not _runnable(path):
            raise ConfigError(
                f"{ANVIL_SETTING}: {path} is not an executable file; point it at the Anvil "
                "binary (https://book.getfoundry.sh, or the npm package "
                "@foundry-rs/anvil-linux-amd64) or unset it to search PATH"
            )
        return path
    on_path = shutil.which("anvil")
    if on_path is not None:
        return Path(on_path)
    try:
        npm = node_modules().joinpath(*_NPM_PATH)
    except DevnetError:
        npm = None
    if npm is not None and _runnable(npm):
        return npm
    raise ConfigError(
        f"{ANVIL_SETTING}: shadow mode (dry_run) needs Anvil for its local fork and found none "
        f"({ANVIL_SETTING} unset, no `anvil` on PATH, no npm install in the repository); set "
        f"{ANVIL_SETTING}=/path/to/anvil, put anvil on PATH, or run `npm install` in the "
        "repository (the Docker image ships it)"
    )
