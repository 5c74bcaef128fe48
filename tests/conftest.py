"""Suite-wide defaults: the keeper's ops endpoint binds any free port during tests."""

from __future__ import annotations

import logging
import os
import secrets
from typing import TYPE_CHECKING

import psycopg
import pytest
import structlog

from tests.support.postgres import PostgresServer, missing_reason

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


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server of this test module (initdb in a temporary directory, run as
    the unprivileged postgres user on a free loopback port), stopped afterwards, pass or fail.
    Skipped only where the binaries are absent, except under CI=true (.ci/run installs
    Debian's postgresql).
    """
    reason = missing_reason()
    if reason is not None:
        if os.environ.get("CI") == "true":  # CI installs the package: missing is a failure
            pytest.fail(reason)
        pytest.skip(reason)
    with PostgresServer() as server:
        yield server


@pytest.fixture
def pg_url(postgres: PostgresServer) -> str:
    """A fresh database on the module's PostgreSQL server."""
    name = "t_" + secrets.token_hex(4)
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return postgres.url.rsplit("/", 1)[0] + "/" + name
