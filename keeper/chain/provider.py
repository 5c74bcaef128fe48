"""AsyncWeb3 factory: a deadline on every request, no hidden retries, a redacted identity."""

from __future__ import annotations

from typing import Any

import aiohttp
from web3 import AsyncHTTPProvider, AsyncWeb3

from keeper.chain.redact import redact_url


class RedactedHTTPProvider(AsyncHTTPProvider):
    """web3's HTTP provider, whose str/repr never show the URL's secret parts."""

    def __init__(self, url: str, timeout_s: float) -> None:
        # exception_retry_configuration=None: web3 would otherwise replay failed requests,
        # eth_sendRawTransaction included. Retries live in keeper.chain.client only.
        super().__init__(
            url,
            request_kwargs={"timeout": aiohttp.ClientTimeout(total=timeout_s)},
            exception_retry_configuration=None,
        )
        self.label = redact_url(url)

    def __str__(self) -> str:
        return f"RPC connection {self.label}"

    def __repr__(self) -> str:
        return f"<RedactedHTTPProvider {self.label}>"


def make_web3(url: str, timeout_s: float) -> AsyncWeb3[Any]:
    """Build the AsyncWeb3 instance for one endpoint (no middleware beyond web3's defaults)."""
    return AsyncWeb3(RedactedHTTPProvider(url, timeout_s))
