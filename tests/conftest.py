"""Suite-wide defaults: the keeper's ops endpoint binds any free port during tests."""

from __future__ import annotations

import os

os.environ.setdefault("KEEPER_OPS_PORT", "0")
# The session's devnet snapshot ages while tests run, and an automining chain makes no blocks
# while idle: the head-lag breaker is off unless a test turns it on.
os.environ.setdefault("KEEPER_BREAKER_MAX_HEAD_LAG_S", "0")
