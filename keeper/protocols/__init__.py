"""Lending protocols the keeper understands."""
