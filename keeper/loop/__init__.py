"""The keeper's cycle, split into its stages (wired in :mod:`keeper.app`).

head follower -> ``Tick`` -> block cycle (confirm, guard, plan, execute) -> ledger; the
back-run stage acts on pending oracle updates; the attempt book is the one owner of what is in
flight, cooling down, or mined after a head. Protocol-neutral: a market is a
:class:`keeper.core.market.LendingMarket`, an execution mode an
:class:`keeper.execution.executor.Executor`.
"""
