"""Local Anvil nodes: finding the binary and running the process (devnets and dry-run forks)."""
