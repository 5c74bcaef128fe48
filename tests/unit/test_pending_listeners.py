"""Pending transaction hashes over WebSocket reach every listener (back-run and bidding watch)."""

from __future__ import annotations

from keeper.chain.ws import WebSocketTransport


def _notify(ws: WebSocketTransport, tx_hash: str) -> None:
    ws._dispatch(
        {
            "jsonrpc": "2.0",
            "method": "eth_subscription",
            "params": {"subscription": "0xsub", "result": tx_hash},
        }
    )


def test_each_listener_gets_every_hash_until_it_stops():
    """Two listeners of one subscription both receive a hash; one that stops listening
    receives no more while the other still does.
    """
    ws = WebSocketTransport("ws://127.0.0.1:9", 1.0)
    ws._pending_sub = "0xsub"
    backrun, watch = ws.listen_pending(), ws.listen_pending()
    _notify(ws, "0x01")
    assert backrun.get_nowait() == watch.get_nowait() == "0x01"
    ws.unlisten_pending(watch)
    _notify(ws, "0x02")
    assert backrun.get_nowait() == "0x02"
    assert watch.empty()
