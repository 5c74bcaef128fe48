"""Morpho Blue (1.0.0, the deployed code) behind the lending-market seam."""
