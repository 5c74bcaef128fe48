"""A small hand-made market for the risk unit tests: interest-free, indices at one ray."""

from __future__ import annotations

from keeper.protocols.aave_v3.config import ReserveConfig
from keeper.protocols.aave_v3.state import AccountState, ReserveState
from keeper.risk.market import MarketState

RAY = 10**27
COL, USD = "0x" + "c0" * 20, "0x" + "d0" * 20


def config(
    decimals: int, lt: int = 8000, ltv: int = 7500, bonus: int = 10500, fee: int = 0
) -> ReserveConfig:
    return ReserveConfig(
        ltv=ltv,
        liquidation_threshold=lt,
        liquidation_bonus=bonus,
        decimals=decimals,
        active=True,
        frozen=False,
        borrowing_enabled=True,
        stable_borrowing_enabled=False,
        paused=False,
        borrowable_in_isolation=False,
        siloed_borrowing=False,
        flashloan_enabled=True,
        reserve_factor=1000,
        borrow_cap=0,
        supply_cap=0,
        liquidation_protocol_fee=fee,
        emode_category=0,
        unbacked_mint_cap=0,
        debt_ceiling=0,
    )


def reserve(asset: str, index: int, cfg: ReserveConfig) -> ReserveState:
    return ReserveState(
        asset=asset,
        index=index,
        config=cfg,
        liquidity_index=RAY,
        liquidity_rate=0,
        variable_borrow_index=RAY,
        variable_borrow_rate=0,
        last_update=1_000,
        a_token="0x" + "a1" * 20,
        stable_debt_token="0x" + "a2" * 20,
        variable_debt_token="0x" + "a3" * 20,
    )


def borrower(address: str, collateral_wei: int, debt_units: int) -> AccountState:
    """COL (reserve 0) as collateral, USD (reserve 1) borrowed."""
    return AccountState(
        address=address,
        user_config=0b0110,  # bit 1: reserve 0 as collateral; bit 2: borrowing reserve 1
        scaled_collateral={0: collateral_wei},
        scaled_variable_debt={1: debt_units},
    )


def market(
    accounts: list[AccountState],
    col_price: int = 100 * 10**8,
    col_fee: int = 0,
) -> MarketState:
    """COL: 18 decimals, LT 80%, bonus 5%; USD: 6 decimals at 1.00."""
    return MarketState(
        block=7,
        timestamp=1_000,
        reserves={
            COL: reserve(COL, 0, config(18, fee=col_fee)),
            USD: reserve(USD, 1, config(6)),
        },
        emodes={},
        prices={COL: col_price, USD: 10**8},
        accounts={a.address: a for a in accounts},
        symbols={COL: "COL", USD: "USD"},
    )
