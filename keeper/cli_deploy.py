"""``keeper deploy-liquidator``: its arguments and what it runs (apart from cli.py for size)."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

from keeper.errors import ConfigError

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    from keeper.settings import Settings

EXIT_OK = 0


def add_deploy_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    market_options: Callable[[argparse.ArgumentParser], None],
) -> None:
    """The ``deploy-liquidator`` subcommand and its options."""
    deploy = sub.add_parser(
        "deploy-liquidator",
        help=(
            "deploy our contract from the keeper's key (FlashLiquidator on aave_v3, approving "
            "the market's reserves to it; MorphoLiquidator on morpho_blue); print its address"
        ),
    )
    market_options(deploy)
    deploy.add_argument(
        "--router",
        default=None,
        help="Uniswap V3 SwapRouter address (flash mode needs it; inventory mode does not)",
    )
    deploy.add_argument(
        "--no-approve",
        action="store_true",
        help="skip the standing approvals of the reserves (the keeper sends each when needed)",
    )
    deploy.add_argument(
        "--fund-eth",
        default="0",
        help="ether to send the contract for coinbase bids (coinbase_payment), e.g. 0.5",
    )


def run_deploy(settings: Settings, args: argparse.Namespace) -> int:
    """Deploy the protocol's contract of ours; print what was done as one JSON line."""
    if settings.protocol == "morpho_blue":
        from keeper.execution.deploy import ether_to_wei  # noqa: PLC0415
        from keeper.protocols.morpho_blue.deploy import deploy_liquidator  # noqa: PLC0415

        if args.router is None:
            raise ConfigError("--router: the MorphoLiquidator needs the Uniswap V3 SwapRouter")
        fund_wei = ether_to_wei(args.fund_eth)
        address = asyncio.run(deploy_liquidator(settings, args.router, fund_wei))
        print(json.dumps({"flash_liquidator": address, "funded_wei": fund_wei}))
        return EXIT_OK
    from keeper.protocols.aave_v3.deploy import deploy_liquidator as deploy_aave  # noqa: PLC0415

    done = asyncio.run(deploy_aave(settings, args.router, not args.no_approve, args.fund_eth))
    print(json.dumps(done.as_json()))
    return EXIT_OK
