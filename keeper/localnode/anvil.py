"""Start Anvil on a free 127.0.0.1 port and always stop it again."""

from __future__ import annotations

import contextlib
import ctypes
import gzip
import json
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Self

from keeper.errors import DevnetError
from keeper.localnode.toolchain import anvil_binary

if TYPE_CHECKING:
    from types import TracebackType

# Anvil's well-known development accounts (mnemonic "test test ... junk"). Public test keys,
# only ever used on the local devnet.
DEV_ACCOUNTS = (
    "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
    "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
)
DEV_KEYS = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
)
CHAIN_ID = 31337
_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    # Linux: Anvil gets SIGTERM if the keeper process dies without cleaning up (kill -9).
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class AnvilOptions:
    """How to start Anvil. ``block_time`` None means automine (a block per transaction)."""

    block_time: float | None = None
    fork_url: str | None = None
    fork_block: int | None = None
    chain_id: int = CHAIN_ID
    accounts: int = 3
    balance_eth: int = 1_000_000
    port: int | None = None  # None: a free port
    load_state: Path | None = None  # a state saved by keeper.devnet.world.dump_state
    # "optimism": Anvil's OP-stack mode (`--network optimism`: deposit transactions, the L1
    # data fee charged from L1Block's values); None: plain Ethereum.
    network: str | None = None
    extra_args: list[str] = field(default_factory=list)
    # How long Anvil may take to answer (longer for a large --load-state), and SIGTERM then
    # SIGKILL after stop_timeout_s (longer when Anvil writes a large --dump-state on exit).
    start_timeout_s: float = 30.0
    # Keep only this many recent states in memory (None: Anvil keeps every block's state; a
    # world of 100k borrowers then grows by about 100 MB a block).
    prune_history: int | None = None
    stop_timeout_s: float = 5.0
    binary: Path | None = None  # None: the pinned npm build (keeper.localnode.toolchain)


class Anvil:
    """A running Anvil process. Use as a (sync) context manager so it always stops."""

    def __init__(self, options: AnvilOptions | None = None) -> None:
        self.options = options or AnvilOptions()
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: tempfile._TemporaryFileWrapper[bytes] | None = None
        self._state_file: tempfile._TemporaryFileWrapper[bytes] | None = None

    @property
    def url(self) -> str:
        """The HTTP endpoint, only ever on 127.0.0.1."""
        return f"http://127.0.0.1:{self.port}"

    def _args(self) -> list[str]:
        opts = self.options
        args = [
            str(opts.binary or anvil_binary()),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--chain-id",
            str(opts.chain_id),
            "--accounts",
            str(opts.accounts),
            "--balance",
            str(opts.balance_eth),
        ]
        if opts.prune_history is not None:
            args += ["--prune-history", str(opts.prune_history)]  # implies no states on disk
        else:
            # Else Anvil writes old states under ~/.foundry and slows down as the chain grows.
            args += ["--max-persisted-states", "0"]
        if opts.block_time is not None:
            args += ["--block-time", str(opts.block_time)]
        if opts.fork_url is not None:
            args += ["--fork-url", opts.fork_url]
            if opts.fork_block is not None:
                args += ["--fork-block-number", str(opts.fork_block)]
        if opts.load_state is not None:
            args += ["--load-state", self._plain_state(opts.load_state)]
        if opts.network is not None:
            args += ["--network", opts.network]
        return args + opts.extra_args

    def _plain_state(self, path: Path) -> str:
        # anvil_dumpState returns gzip; --load-state reads only plain JSON, and anvil_loadState
        # over RPC refuses states of a few MB, so large worlds are loaded at start.
        data = path.read_bytes()
        if data[:2] != b"\x1f\x8b":
            return str(path)
        if self._state_file is None:
            self._state_file = tempfile.NamedTemporaryFile(prefix="anvil-state-", suffix=".json")  # noqa: SIM115
            self._state_file.write(gzip.decompress(data))
            self._state_file.flush()
        return self._state_file.name

    def start(self, timeout_s: float | None = None) -> Self:
        """Start Anvil and wait until it answers; retry on a port taken in the meantime."""
        last_error = "no attempt"
        for _ in range(3 if self.options.port is None else 1):
            self.port = self.options.port or free_port()
            self._log_file = tempfile.NamedTemporaryFile(prefix="anvil-", suffix=".log")  # noqa: SIM115
            self._proc = subprocess.Popen(
                self._args(),
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - only prctl, no locks taken
            )
            try:
                self._wait_ready(self.options.start_timeout_s if timeout_s is None else timeout_s)
            except DevnetError as exc:
                last_error = str(exc)
                self.stop()
                continue
            return self
        raise DevnetError(f"Anvil did not start: {last_error}")

    def _log_tail(self) -> str:
        if self._log_file is None:
            return ""
        self._log_file.flush()
        text = Path(self._log_file.name).read_text(errors="replace")
        return text[-2000:]

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                raise DevnetError(f"Anvil exited at start: {self._log_tail()}")
            req = urllib.request.Request(  # noqa: S310 - fixed http://127.0.0.1 URL
                self.url, data=body.encode(), headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(req, timeout=1) as resp:  # noqa: S310
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
        raise DevnetError(f"Anvil did not answer within {timeout_s}s: {self._log_tail()}")

    def stop(self) -> None:
        """Stop Anvil (SIGTERM, then SIGKILL after ``stop_timeout_s``). Safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=self.options.stop_timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._state_file is not None:
            self._state_file.close()
            self._state_file = None

    @property
    def running(self) -> bool:
        """True while the process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The Anvil process id, if started."""
        return self._proc.pid if self._proc is not None else None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


__all__ = ["CHAIN_ID", "DEV_ACCOUNTS", "DEV_KEYS", "Anvil", "AnvilOptions", "free_port"]
