"""Suite-wide defaults: the keeper's ops endpoint binds any free port during tests."""

from __future__ import annotations

import os

os.environ.setdefault("KEEPER_OPS_PORT", "0")
