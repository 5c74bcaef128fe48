"""Strategy: turns liquidatable accounts into plans. Never sends."""
