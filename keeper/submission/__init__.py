"""Submission channels: how a signed transaction reaches a block (the seam below execution).

Signing, the nonce, the journal and replacement stay in ``keeper.execution.sender``; a channel
only delivers bytes already signed and journaled, and says how the delivery went.
"""
