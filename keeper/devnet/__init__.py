"""Local Anvil devnet carrying a real Aave V3 market (tests, demo, dry runs)."""
