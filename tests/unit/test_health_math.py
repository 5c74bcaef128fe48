"""The pure account-data computation, against an independent reference and hand examples."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from keeper.protocols.aave_v3.config import ReserveConfig
from keeper.protocols.aave_v3.health import account_data, build_view
from keeper.protocols.aave_v3.math import MAX_UINT256, RAY, WAD
from keeper.protocols.aave_v3.state import AccountState, EModeCategory, ReserveState, StableDebt
from keeper.risk.engine import HealthEngine, move_threshold

A, B, C = "0x" + "aa" * 20, "0x" + "bb" * 20, "0x" + "cc" * 20


def _reserve(asset, index, *, ltv, lt, decimals, emode=0, rate=0, last=0, li=RAY, vbi=RAY):
    word = ltv | lt << 16 | 10_500 << 32 | decimals << 48 | 1 << 56 | emode << 168
    return ReserveState(
        asset,
        index,
        ReserveConfig.decode(word),
        li,
        rate,
        vbi,
        rate,
        last,
        "0x" + "01" * 20,
        "0x" + "02" * 20,
        "0x" + "03" * 20,
    )


RESERVES = [
    _reserve(A, 0, ltv=8000, lt=8250, decimals=18, emode=1),
    _reserve(B, 1, ltv=7500, lt=8000, decimals=6),
    _reserve(C, 2, ltv=0, lt=7000, decimals=8, emode=1),  # zero-LTV collateral
]
PRICES = {A: 2_000 * 10**8, B: 10**8, C: 50_000 * 10**8}


def test_hand_example_two_collaterals_one_debt():
    """10 A (LT 82.5%) + 0.1 C (LT 70%) against 15,000 B: HF = weighted LT x collateral / debt."""
    account = AccountState(
        A,
        user_config=0b10_01_10,
        scaled_collateral={0: 10 * WAD, 2: 10**7},
        scaled_variable_debt={1: 15_000 * 10**6},
    )
    view = build_view(RESERVES, {}, PRICES, 100)
    d = account_data(account, view)
    assert d.total_collateral_base == 20_000 * 10**8 + 5_000 * 10**8
    assert d.total_debt_base == 15_000 * 10**8
    assert d.current_liquidation_threshold == (20_000 * 8250 + 5_000 * 7000) // 25_000
    assert d.ltv == 20_000 * 8000 // 25_000  # zero-LTV collateral adds no borrowing power
    expected_hf = (25_000 * 10**8 * d.current_liquidation_threshold + 5_000) // 10_000
    assert d.health_factor == (expected_hf * WAD + 15_000 * 10**8 // 2) // (15_000 * 10**8)


def test_emode_terms_and_price_source_apply_to_members_only():
    """In eMode 1 with a price source, members A and C use the category's threshold and the
    source's price; B keeps its own.
    """
    account = AccountState(
        A,
        user_config=0b10_01_10,
        emode=1,
        scaled_collateral={0: WAD, 2: 10**8},
        scaled_variable_debt={1: 10**6},
    )
    emodes = {1: EModeCategory(1, 9_000, 9_300, 10_200, C)}
    d = account_data(account, build_view(RESERVES, emodes, PRICES, 0))
    # both members priced at C's price: 1 A unit at 50,000 + 1 C at 50,000
    assert d.total_collateral_base == 100_000 * 10**8
    assert d.current_liquidation_threshold == 9_300
    assert d.ltv == 9_000 * 50_000 // 100_000  # C has zero LTV even in eMode


def test_no_position_and_no_debt():
    """An empty account reads all zeros and HF max; collateral without debt reads HF max."""
    view = build_view(RESERVES, {}, PRICES, 0)
    assert account_data(AccountState(A), view).health_factor == MAX_UINT256
    d = account_data(AccountState(A, 0b10, scaled_collateral={0: WAD}), view)
    assert d.health_factor == MAX_UINT256 and d.total_collateral_base == 2_000 * 10**8


def test_stable_debt_accrues_per_account():
    """Stable debt grows with its own rate from its own timestamp."""
    account = AccountState(
        A,
        0b01_10,
        scaled_collateral={0: 10 * WAD},
        stable_debt={1: StableDebt(1_000 * 10**6, RAY // 10, 0)},
    )
    year = 365 * 24 * 3600
    now = build_view(RESERVES, {}, PRICES, 0)
    later = build_view(RESERVES, {}, PRICES, year)
    assert account_data(account, now).total_debt_base == 1_000 * 10**8
    grown = account_data(account, later).total_debt_base
    assert 1_105 * 10**8 < grown < 1_106 * 10**8  # ~ e^0.1


def _reference(account, reserves, prices, now):
    """A plain re-statement of GenericLogic with Fractions floored where Solidity divides."""
    coll = debt = lt_sum = 0
    for r in reserves:
        if account.user_config >> (2 * r.index + 1) & 1 and r.config.liquidation_threshold:
            income = r.normalized_income(now)
            bal = (account.scaled_collateral.get(r.index, 0) * income + RAY // 2) // RAY
            value = int(Fraction(bal * prices[r.asset], 10**r.config.decimals))
            coll += value
            lt_sum += value * r.config.liquidation_threshold
        if account.user_config >> (2 * r.index) & 1:
            d = account.scaled_variable_debt.get(r.index, 0)
            if d:
                d = (d * r.normalized_debt(now) + RAY // 2) // RAY
            debt += int(Fraction(d * prices[r.asset], 10**r.config.decimals))
    if debt == 0:
        return MAX_UINT256
    lt = lt_sum // coll if coll else 0
    weighted = (coll * lt + 5_000) // 10_000
    return (weighted * WAD + debt // 2) // debt


@settings(max_examples=200)
@given(
    config=st.integers(0, 2**6 - 1),
    balances=st.lists(st.integers(0, 10**30), min_size=6, max_size=6),
    rate=st.integers(0, 2 * RAY),
    dt=st.integers(0, 3 * 365 * 24 * 3600),
)
def test_health_factor_matches_reference(config, balances, rate, dt):
    """Random positions, rates and elapsed time: the health factor equals the reference."""
    reserves = [
        _reserve(
            A, 0, ltv=8000, lt=8250, decimals=18, rate=rate, li=RAY + 10**25, vbi=RAY + 3 * 10**25
        ),
        _reserve(B, 1, ltv=7500, lt=8000, decimals=6, rate=rate // 2),
        _reserve(C, 2, ltv=0, lt=7000, decimals=8, rate=rate // 3),
    ]
    account = AccountState(
        A,
        config,
        scaled_collateral={i: balances[i] for i in range(3)},
        scaled_variable_debt={i: balances[3 + i] for i in range(3)},
    )
    view = build_view(reserves, {}, PRICES, dt)
    assert account_data(account, view).health_factor == _reference(account, reserves, PRICES, dt)


def test_engine_indexes_by_reserve_and_emode_price_source():
    """Exposure follows the reserves an account uses, and eMode categories priced by an asset."""
    engine = HealthEngine()
    emodes = {1: EModeCategory(1, 9_000, 9_300, 10_200, B)}
    engine.set_market(RESERVES, emodes, PRICES, 0)
    uses_a = AccountState("0x1", 0b10, scaled_collateral={0: WAD})
    uses_b = AccountState(
        "0x2", 0b01_10, scaled_collateral={0: WAD}, scaled_variable_debt={1: 10**6}
    )
    in_emode = AccountState("0x3", 0b10_00_00, emode=1, scaled_collateral={2: 10**8})
    engine.upsert([uses_a, uses_b, in_emode])
    assert engine.exposed(A) == {"0x1", "0x2"}
    assert engine.exposed(B) == {"0x2", "0x3"}  # 0x3 is priced by B through its eMode
    assert engine.exposed(C) == {"0x3"}
    engine.upsert([AccountState("0x2", 0b10_00_00, scaled_collateral={2: 1})])
    assert engine.exposed(A) == {"0x1"}
    engine.remove(["0x1"])
    assert engine.exposed(A) == set() and "0x1" not in engine.data


@settings(max_examples=300)
@given(
    config=st.integers(0, 2**6 - 1),
    balances=st.lists(st.integers(0, 10**26), min_size=6, max_size=6),
    emode=st.booleans(),
    moves=st.lists(st.integers(1, 40_000), min_size=3, max_size=3),  # new price, bps of old
    floor=st.integers(WAD // 2, 2 * WAD),
)
def test_price_moves_cannot_take_an_account_above_the_bound_under_the_floor(
    config, balances, emode, moves, floor
):
    """Any positions, eMode priced by a moving source or not, any moves of the three prices: an
    account whose health factor is at or above ``move_threshold`` before ends at or above
    ``floor`` after (the monitor recomputes only the others before acting).

    Only accounts whose debt is worth at least one base unit before have a health factor to
    bound: a debt under 1e-8 USD rounds to zero (health "infinite") and can round up to a unit
    after a move; such an account is recomputed after acting and is never worth liquidating.
    """
    account = AccountState(
        A,
        config,
        emode=1 if emode else 0,
        scaled_collateral={i: balances[i] for i in range(3)},
        scaled_variable_debt={i: balances[3 + i] for i in range(3)},
    )
    emodes = {1: EModeCategory(1, 9_000, 9_300, 10_200, C)}
    after_prices = {a: PRICES[a] * m // 10_000 or 1 for a, m in zip((A, B, C), moves, strict=True)}
    changed = {a: p for a, p in after_prices.items() if p != PRICES[a]}
    threshold = move_threshold(floor, PRICES, changed)
    assert threshold is not None
    before = account_data(account, build_view(RESERVES, emodes, PRICES, 0))
    hf_before = before.health_factor if before.total_debt_base > 0 else 0
    hf_after = account_data(account, build_view(RESERVES, emodes, after_prices, 0)).health_factor
    if hf_before >= threshold:
        assert hf_after >= floor


def test_move_threshold_examples():
    """No move: the floor itself; a 10% fall raises it by 1/0.9; a zero price has no bound."""
    assert move_threshold(WAD, PRICES, {}) == WAD
    assert move_threshold(WAD, PRICES, {A: PRICES[A] * 9 // 10}) == -(-WAD * 10 // 9)
    assert move_threshold(WAD, PRICES, {A: PRICES[A] * 2}) == 2 * WAD  # a rise counts too
    assert move_threshold(WAD, PRICES, {A: 0}) is None
