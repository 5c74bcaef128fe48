"""Execution: the only package that signs and sends transactions."""
