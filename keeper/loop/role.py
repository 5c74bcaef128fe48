"""Active or standby: the lease kept, taken over when it lapses, the journal adopted.

With ``journal_url`` (PostgreSQL) several keepers run on one key. Each runs the whole pipeline
(heads, market state, candidates, plans); only the lease's holder sends, and only once it has
adopted the journal's open transactions (re-broadcast the same signed bytes, replace, or
settle: :class:`keeper.execution.recovery.Recovery`), after which its nonce counter is the
chain's and the journal's (never reused, never skipped).

:class:`RoleKeeper` runs beside the supervised stages, every ``lease_renew_s``: the active
renews; a standby tries to acquire (it succeeds once the lease lapsed, ``lease_ttl_s`` after
the last renewal, or at once after the active released it at a clean stop). Lines
``lease_acquired`` (with ``failover`` when it took over from another keeper), ``takeover_done``
(with the seconds the adoption took) and ``lease_lost`` (with the reason); the ``keeper_role``
gauge, ``keeper_failovers_total`` and ``/status`` show the role. An active that processes no
new head for ``max_head_age_s`` (its node fails, PostgreSQL still answers) releases the lease
for a standby and does not ask for it again for a lease time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import time
from typing import TYPE_CHECKING

import structlog

from keeper.errors import ConfigError, JournalUnavailableError, TransactionError
from keeper.execution.journal_pg import PostgresJournal, lease_key
from keeper.execution.journal_sqlite import SqliteJournal
from keeper.execution.lease import ALONE, Lease, LeaseTerms
from keeper.execution.pg_lease import PostgresLeaseStore

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from keeper.execution.journal import Journal
    from keeper.execution.lease import WriterGate
    from keeper.execution.pg_lease import Acquired
    from keeper.ops.metrics import Metrics
    from keeper.ops.server import Status
    from keeper.settings import Settings

log = structlog.get_logger(__name__)


def open_journal(
    settings: Settings, chain_id: int, address: str, path: str
) -> tuple[Journal, Lease | None]:
    """The journal the settings name (``path``: the SQLite file), and the lease if HA."""
    url = settings.journal_url
    if url is None or settings.dry_run:
        return SqliteJournal(path, chain_id), None
    holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
    terms = LeaseTerms(settings.lease_ttl_s, settings.lease_renew_s)
    lease = Lease(lease_key(chain_id, address), holder, terms)
    try:
        journal = PostgresJournal(url.get_secret_value(), chain_id, lease)
    except JournalUnavailableError as exc:
        raise ConfigError(
            f"journal_url: {exc}; check the URL and that the PostgreSQL server accepts "
            "connections from this host"
        ) from None
    return journal, lease


class RoleKeeper:
    """Renews the lease while active, acquires it when it lapses, adopts the journal."""

    def __init__(
        self,
        lease: Lease,
        store: PostgresLeaseStore,
        ops: tuple[Metrics, Status],
        adopt: Callable[[], Awaitable[None]],
    ) -> None:
        self.lease, self.store = lease, store
        self.metrics, self.status = ops
        self.adopt = adopt
        self.active = False  # as last logged
        self.last_error = ""
        self._adopting: asyncio.Task[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._quiet_until = float("-inf")  # after handing the lease over: not asked for
        self.publish()

    def _head_stale(self) -> str | None:
        """Why this active should hand over: no new head for ``max_head_age_s`` (None: fine)."""
        status = self.status
        if not self.lease.ready or status.last_step_at == 0.0:
            return None
        age = time.time() - status.last_step_at
        if age <= status.max_head_age_s:
            return None
        return f"no new head for {age:.0f}s (max_head_age_s {status.max_head_age_s:.0f})"

    @classmethod
    def build(
        cls,
        settings: Settings,
        lease: Lease,
        ops: tuple[Metrics, Status],
        adopt: Callable[[], Awaitable[None]],
    ) -> RoleKeeper:
        """The role keeper of ``lease`` on the settings' database."""
        url = settings.journal_url
        if url is None:  # pragma: no cover - a lease exists only with journal_url
            raise ConfigError("journal_url: needed for a lease")
        return cls(lease, PostgresLeaseStore(url.get_secret_value(), lease), ops, adopt)

    def start(self) -> None:
        """Run beside the stages (until :meth:`stop`)."""
        self._task = asyncio.create_task(self._run(), name="lease")

    async def stop(self) -> None:
        """After the stages drained: stop renewing and release the lease for a standby."""
        for task in (self._task, self._adopting):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        was = self.lease.epoch
        try:
            await self.store.release()
        except JournalUnavailableError as exc:
            log.warning("lease_release_failed", error=str(exc), epoch=was)
        else:
            if was is not None:
                log.info("lease_released", epoch=was, key=self.lease.key)
        self.active = False
        self.publish()
        await self.store.close()

    async def _run(self) -> None:
        while True:
            try:
                await self.step()
            except JournalUnavailableError as exc:
                if exc.args[0] != self.last_error:
                    log.warning("lease_database_unreachable", error=str(exc), role=self.lease.role)
                self.last_error = str(exc.args[0])
            else:
                self.last_error = ""
            self.publish()
            await asyncio.sleep(self.lease.terms.renew_s)

    async def step(self) -> None:
        """One renewal (active) or one attempt to acquire (standby)."""
        lease = self.lease
        if lease.epoch is not None and not lease.held:
            lease.lost(
                f"not renewed within {lease.terms.ttl_s - lease.terms.margin_s:.1f}s "
                f"({self.last_error or 'no answer'})"
            )
        if lease.epoch is None:
            if self.active:
                self._lost()
            if time.monotonic() < self._quiet_until:
                return
            acquired = await self.store.acquire()
            if acquired is not None:
                self._acquired(acquired)
            return
        if not await self.store.renew():
            lease.lost("the database gives the lease to another keeper, or it lapsed")
            self._lost()
            return
        stale = self._head_stale()
        if stale is not None:
            # Alive to PostgreSQL but blind to the chain (its node fails): a standby whose
            # node works should act. Released, not re-asked for a lease time.
            await self.store.release()
            lease.lost(f"handed over: {stale}")
            self._lost()
            self._quiet_until = time.monotonic() + lease.terms.ttl_s
            return
        if not lease.ready and (self._adopting is None or self._adopting.done()):
            self._adopting = asyncio.create_task(self._adopt(lease.epoch), name="takeover")

    def _acquired(self, acquired: Acquired) -> None:
        lease = self.lease
        failover = acquired.previous is not None and acquired.previous != lease.holder
        if failover:
            self.metrics.failovers.inc()
        self.active = True
        log.warning(
            "lease_acquired",
            key=lease.key,
            epoch=acquired.epoch,
            holder=lease.holder,
            previous=acquired.previous,
            failover=failover,
            at=round(time.time(), 3),
        )
        self._adopting = asyncio.create_task(self._adopt(acquired.epoch), name="takeover")

    async def _adopt(self, epoch: int) -> None:
        """Adopt the journal's open transactions, then send (if the lease is still ``epoch``)."""
        started = time.monotonic()
        try:
            await self.adopt()
        except TransactionError as exc:  # lost meanwhile, or the database went away
            log.warning("takeover_failed", epoch=epoch, error=str(exc))
            return
        if self.lease.epoch == epoch:
            self.lease.ready = True
            log.warning(
                "takeover_done",
                epoch=epoch,
                s=round(time.monotonic() - started, 3),
                at=round(time.time(), 3),
            )
        self.publish()

    def _lost(self) -> None:
        if self._adopting is not None:
            self._adopting.cancel()
        self.active = False
        log.warning(
            "lease_lost",
            key=self.lease.key,
            holder=self.lease.holder,
            reason=self.lease.lost_reason,
            at=round(time.time(), 3),
        )

    def publish(self) -> None:
        """The role on /status and in the metrics."""
        publish_role(self.lease, self.metrics, self.status)


def publish_role(gate: WriterGate, metrics: Metrics, status: Status) -> None:
    """The role of ``gate`` (``ALONE``: single) on /status and in ``keeper_role``."""
    role = gate.role
    metrics.set_role("active" if role == "active" else "standby" if role == "standby" else "single")
    status.role = role
    if isinstance(gate, Lease):
        status.lease = {
            "key": gate.key,
            "holder": gate.holder,
            "epoch": gate.epoch,
            "sending": gate.sending,
        }


__all__ = ["ALONE", "RoleKeeper", "open_journal", "publish_role"]
