"""The protocol-neutral core: the types between the stages and the two seams.

Nothing here imports a protocol package (``keeper.protocols``) or a later stage; a lending
protocol implements :class:`keeper.core.market.LendingMarket`, an execution mode implements
:class:`keeper.core.executor.Executor`, and ``docs/architecture.md`` draws how they meet.
"""
