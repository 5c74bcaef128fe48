"""keeper: a liquidation keeper for Aave V3-style lending markets."""

__version__ = "0.1.0"
