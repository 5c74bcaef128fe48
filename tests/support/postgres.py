"""A real PostgreSQL server for tests: initdb into a temporary directory, one loopback port.

PostgreSQL refuses to run as root, and the tests run as root: the server runs as the
unprivileged ``postgres`` user of the Debian package (``runuser``), in a directory that user
owns, listening on 127.0.0.1 only with trust authentication (nothing else can reach it). It is
stopped and its directory removed when the context ends, also on failure.

The binaries are Debian's ``postgresql`` package (``.ci/run`` installs it); a machine without
them skips the tests that need a server, naming the package.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Self

from keeper.localnode.anvil import free_port

if TYPE_CHECKING:
    from types import TracebackType

PG_ROOT = Path("/usr/lib/postgresql")
USER = "postgres"
START_TIMEOUT_S = 60


def pg_bin() -> Path | None:
    """The newest installed server's bin directory, None when PostgreSQL is not installed."""
    if not PG_ROOT.is_dir():
        return None
    versions = sorted(
        (p for p in PG_ROOT.iterdir() if (p / "bin" / "initdb").is_file()),
        key=lambda p: int(p.name) if p.name.isdigit() else 0,
    )
    return versions[-1] / "bin" if versions else None


def missing_reason() -> str | None:
    """Why a server cannot be started here (None: it can)."""
    if pg_bin() is None:
        return "PostgreSQL binaries absent: apt-get install postgresql (CI installs it)"
    try:
        pwd.getpwnam(USER)
    except KeyError:
        return f"no {USER!r} user (the Debian postgresql package creates it)"
    return None


class PostgresServer:
    """One PostgreSQL cluster in a temporary directory; ``url`` reaches its ``postgres`` db."""

    def __init__(self) -> None:
        bin_dir = pg_bin()
        if bin_dir is None:  # pragma: no cover - callers skip first (missing_reason)
            raise RuntimeError("PostgreSQL is not installed")
        self.bin = bin_dir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="keeper-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.running = False

    @property
    def url(self) -> str:
        """A libpq URL of the server (trust authentication on loopback)."""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["/usr/sbin/runuser", "-u", USER, "--", *args],
            check=True,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT_S,
        )

    def __enter__(self) -> Self:
        entry = pwd.getpwnam(USER)
        os.chown(self.root, entry.pw_uid, entry.pw_gid)
        try:
            self._run(
                str(self.bin / "initdb"),
                "-D",
                str(self.data),
                "-U",
                USER,
                "--auth=trust",
                "--no-sync",  # a throwaway cluster: fsync of its files is wasted time
                "-E",
                "UTF8",
            )
            self.start()
        except BaseException:
            self._cleanup()
            raise
        return self

    def start(self) -> None:
        """Start (again, on the same data and port) and wait until it accepts connections."""
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
            "-c fsync=off -c max_connections=50"
        )
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options,
            "-w", "-t", str(START_TIMEOUT_S), "start",
        )  # fmt: skip
        self.running = True
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            ready = subprocess.run(
                [str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                check=False,
                capture_output=True,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError(f"PostgreSQL did not start:\n{self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        """Stop at once (``immediate``: like a crash of the database host, no checkpoint)."""
        if self.running:
            self._run(
                str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"
            )
            self.running = False

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._cleanup()

    def _cleanup(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
