"""Shadow mode (``dry_run = true``): the real chain, nothing at risk, verdicts against rivals.

The keeper's pipeline runs against the real chain; every transaction goes only to a local
Anvil fork kept at the real head, and verdicts compare what it would have done with what the
real liquidators did.

- ``anvil``: where the Anvil binary comes from (a missing one is a configuration error);
- ``fork``: the fork, reset at each block that has work, with the fork's transactions forgotten;
- ``verdict``: the pure rules (would win, would lose and why, missed);
- ``reality``: the real chain's liquidations, read (only read) from the configured node;
- ``ledger``: the shadow journal's tables (opportunities, verdicts, runs);
- ``book``: the running bookkeeping (a supervised stage; log lines, metrics, /status);
- ``report``: ``keeper shadow-report``.
"""
