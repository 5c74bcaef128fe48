"""A market state saved to a JSON file and read back, to rerun a radar or a stress offline.

Integers stay integers (JSON numbers of any size, as Python writes and reads them), so a
snapshot gives the very numbers the live state gave.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

from keeper.errors import ConfigError
from keeper.protocols.aave_v3.config import ReserveConfig
from keeper.protocols.aave_v3.state import AccountState, EModeCategory, ReserveState, StableDebt
from keeper.risk.market import MarketState, PoolState

if TYPE_CHECKING:
    from pathlib import Path

FORMAT = "keeper-market-snapshot/1"


def to_json(state: MarketState) -> str:
    """The state as JSON text."""
    body: dict[str, Any] = {
        "format": FORMAT,
        "block": state.block,
        "timestamp": state.timestamp,
        "base_unit": state.base_unit,
        "pool_version": state.pool_version,
        "symbols": state.symbols,
        "prices": state.prices,
        "reserves": [dataclasses.asdict(r) for r in state.reserves.values()],
        "emodes": [dataclasses.asdict(e) for e in state.emodes.values()],
        "pools": [dataclasses.asdict(p) for p in state.pools],
        "accounts": [_account(a) for a in state.accounts.values()],
    }
    return json.dumps(body, indent=1) + "\n"


def _account(a: AccountState) -> dict[str, Any]:
    return {
        "address": a.address,
        "user_config": a.user_config,
        "emode": a.emode,
        "block": a.block,
        "scaled_collateral": {str(k): v for k, v in a.scaled_collateral.items()},
        "scaled_variable_debt": {str(k): v for k, v in a.scaled_variable_debt.items()},
        "stable_debt": {str(k): dataclasses.asdict(v) for k, v in a.stable_debt.items()},
    }


def from_json(text: str) -> MarketState:
    """Inverse of :func:`to_json`; ValueError on anything else."""
    body = json.loads(text)
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} file")
    reserves = {}
    for raw in body["reserves"]:
        fields = dict(raw)
        fields["config"] = ReserveConfig(**fields["config"])
        reserve = ReserveState(**fields)
        reserves[reserve.asset] = reserve
    emodes = {e["id"]: EModeCategory(**e) for e in body["emodes"]}
    accounts = {}
    for raw in body["accounts"]:
        accounts[raw["address"]] = AccountState(
            address=raw["address"],
            user_config=raw["user_config"],
            emode=raw["emode"],
            scaled_collateral={int(k): v for k, v in raw["scaled_collateral"].items()},
            scaled_variable_debt={int(k): v for k, v in raw["scaled_variable_debt"].items()},
            stable_debt={int(k): StableDebt(**v) for k, v in raw["stable_debt"].items()},
            block=raw["block"],
        )
    return MarketState(
        block=body["block"],
        timestamp=body["timestamp"],
        reserves=reserves,
        emodes=emodes,
        prices=dict(body["prices"]),
        accounts=accounts,
        symbols=dict(body["symbols"]),
        base_unit=body["base_unit"],
        pool_version=body["pool_version"],
        pools=[
            PoolState(**{**p, "ticks": tuple((t, n) for t, n in p.get("ticks", ()))})
            for p in body["pools"]
        ],
    )


def save(state: MarketState, path: Path) -> None:
    """Write the snapshot file."""
    path.write_text(to_json(state), encoding="utf-8")


def load(path: Path) -> MarketState:
    """Read a snapshot file; ConfigError naming ``--snapshot`` when it is not one."""
    try:
        return from_json(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"--snapshot: cannot read {path}: {exc.strerror}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"--snapshot: {path} is not a market snapshot ({exc})") from None
