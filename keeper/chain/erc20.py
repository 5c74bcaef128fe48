"""The ERC-20 calls every stage may need (approve, allowance, balanceOf, symbol, decimals)."""

from __future__ import annotations

from keeper.chain.abi import Codec


def _fn(name: str, inputs: list[str], outputs: list[str], *, view: bool) -> dict[str, object]:
    return {
        "type": "function",
        "name": name,
        "stateMutability": "view" if view else "nonpayable",
        "inputs": [{"name": f"a{i}", "type": t} for i, t in enumerate(inputs)],
        "outputs": [{"name": "", "type": t} for t in outputs],
    }


ERC20 = Codec(
    [
        _fn("approve", ["address", "uint256"], ["bool"], view=False),
        _fn("allowance", ["address", "address"], ["uint256"], view=True),
        _fn("balanceOf", ["address"], ["uint256"], view=True),
        _fn("symbol", [], ["string"], view=True),
        _fn("decimals", [], ["uint8"], view=True),
    ]
)
