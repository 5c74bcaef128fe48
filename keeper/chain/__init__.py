"""Chain I/O: the node client, heads, logs and batched reads."""
