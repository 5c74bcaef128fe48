"""Aave V3 (Pool v3.0.x): addresses, reads, events and the pure liquidation rules."""
