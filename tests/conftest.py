"""Suite-wide defaults: the keeper's ops endpoint binds any free port during tests."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

import pytest
import structlog

if TYPE_CHECKING:
    from collections.abc import Iterator

os.environ.setdefault("KEEPER_OPS_PORT", "0")
# The session's devnet snapshot ages while tests run, and an automining chain makes no blocks
# while idle: the head-lag breaker is off unless a test turns it on.
os.environ.setdefault("KEEPER_BREAKER_MAX_HEAD_LAG_S", "0")


@pytest.fixture(autouse=True)
def _logging_reset_after_each_test() -> Iterator[None]:
    """A test that runs the CLI in process configures logging onto pytest's captured stderr,
    which is closed after that test: put structlog and the root logger back to their defaults.
    """
    yield
    structlog.reset_defaults()
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler.formatter, structlog.stdlib.ProcessorFormatter):
            root.removeHandler(handler)
