"""Alert payloads, deduplication and rate limiting, without a network."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from keeper.errors import ConfigError
from keeper.ops.alerts import Alerts, Webhook, parse_webhooks


def test_formats_and_parsing():
    """slack/telegram send {"text"}, discord {"content"}; a malformed entry is a ConfigError
    that does not quote the (secret) URL.
    """
    hooks = parse_webhooks(
        [
            SecretStr("slack:https://h/1"),
            SecretStr("discord:https://h/2"),
            SecretStr("telegram:https://h/3?chat_id=5"),
        ]
    )
    assert [h.payload("x") for h in hooks] == [
        {"text": "x"},
        {"content": "x"},
        {"text": "x", "disable_web_page_preview": True},
    ]
    with pytest.raises(ConfigError) as err:
        parse_webhooks([SecretStr("teams:https://secret-token")])
    assert "secret-token" not in str(err.value)


@pytest.mark.asyncio
async def test_dedup_and_rate_limit():
    """The same kind+key is sent once per window; beyond the per-minute budget alerts drop."""
    alerts = Alerts([Webhook("slack", "http://127.0.0.1:9/x")], dedup_s=600, per_minute=3)
    assert alerts.alert("won", "a", "first")
    assert not alerts.alert("won", "a", "again")  # duplicate
    assert alerts.alert("won", "b", "second")
    assert alerts.alert("lost", "a", "third")
    assert not alerts.alert("lost", "c", "fourth")  # over 3 per minute
    assert alerts.suppressed == 2
    assert not Alerts([]).alert("won", "a", "no webhook configured")
