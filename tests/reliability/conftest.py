"""The reliability suite runs on the same devnet fixtures as the integration tests."""

from __future__ import annotations

from tests.integration.conftest import devnet, snapshot, snapshot_v36

__all__ = ["devnet", "snapshot", "snapshot_v36"]
