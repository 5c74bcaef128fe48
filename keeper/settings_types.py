"""Value types shared by the settings modules."""

from __future__ import annotations

from typing import Annotated

from eth_utils.address import is_hex_address, to_checksum_address
from pydantic import AfterValidator


def _checksum(value: str) -> str:
    if not is_hex_address(value):
        raise ValueError("expected a 20-byte hex address like 0xAbC...(40 hex digits)")
    return str(to_checksum_address(value))


Address = Annotated[str, AfterValidator(_checksum)]
