"""`keeper demo --protocol morpho_blue` as a real process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def test_morpho_demo_liquidates_with_zero_capital_and_exits_0() -> None:
    """The Morpho demo deploys Morpho Blue and Uniswap on a fresh Anvil, deploys the keeper's
    MorphoLiquidator, shocks WETH, shows each liquidation and a summary with the profit paid in
    the loan token and no position left liquidatable, and exits 0.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEPER_")}
    if "KEEPER_NODE_MODULES" in os.environ:
        env["KEEPER_NODE_MODULES"] = os.environ["KEEPER_NODE_MODULES"]
    result = subprocess.run(
        [sys.executable, "-m", "keeper", "demo", "--protocol", "morpho_blue", "--borrowers", "32"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "deployed MorphoLiquidator" in out
    assert "liquidated:" in out
    assert "summary" in out
    assert "still liquidatable                        0" in out
    assert "USDC" in out.split("profit paid to the keeper (loan tokens)")[1]
