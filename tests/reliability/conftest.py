"""The reliability suite runs on the same devnet fixtures as the integration tests."""

from __future__ import annotations

from tests.integration.conftest import devnet, snapshot

__all__ = ["devnet", "snapshot"]
