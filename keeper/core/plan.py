"""What a lending market's planner hands to execution: a plan, or a typed reason not to act."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, Protocol, TypeVar


class SkipKind(StrEnum):
    """Why an account below the liquidation threshold gets no plan (a metric label)."""

    HEALTHY = "healthy"
    UNPROFITABLE = "unprofitable"
    # Profitable after the L2 gas, not after the L1 data fee too (OP stack, Arbitrum).
    UNPROFITABLE_L1_FEE = "unprofitable_l1_fee"
    DUST = "dust"
    NO_INVENTORY = "no_inventory"
    NO_COLLATERAL = "no_collateral"
    NO_DEBT = "no_debt"
    NO_LIQUIDITY = "no_liquidity"
    GRACE_PERIOD = "grace_period"
    # A protocol's oracle sentinel holds the liquidation back (Aave on L2: sequencer down or
    # in its grace period, and a health factor the bypass does not cover).
    SENTINEL = "sentinel"
    COOLDOWN = "cooldown"
    PENDING = "pending"
    MINED_AFTER_HEAD = "mined_after_head"
    BREAKER = "breaker"
    # A standby of an HA pair plans every candidate and leaves the sending to the active.
    STANDBY = "standby"
    NOT_TRACKED = "not_tracked"
    SELF = "self"
    OTHER = "other"


@dataclass(frozen=True)
class Skip:
    """Why an account gets no plan: a kind for metrics, a sentence for the operator."""

    account: str
    reason: str
    kind: SkipKind = SkipKind.OTHER


@dataclass(frozen=True)
class Amount:
    """A token amount in the token's own units."""

    asset: str
    amount: int


class PlanPayload(Protocol):
    """The protocol's own description of the liquidation (what its calls are built from).

    ``to_meta`` gives a JSON-able dict the journal keeps beside the signed transaction, from
    which the market rebuilds the payload when the transaction settles after a restart.
    """

    def to_meta(self) -> dict[str, object]:
        """The payload's fields, JSON-able."""
        ...


P_co = TypeVar("P_co", bound=PlanPayload, covariant=True)


@dataclass(frozen=True)
class Plan(Generic[P_co]):
    """One liquidation to execute, in protocol-neutral terms plus the protocol's payload.

    ``spend`` is what the keeper passes (its upper bound on the repayment); ``expected_spent`` is
    what the protocol is expected to pull (less when the collateral runs out first); ``receive``
    is the collateral expected. Profits are in the market's base units (e.g. USD x 1e8):
    ``gross_profit_base`` before gas, ``expected_profit_base`` after ``gas_estimate`` units.
    """

    account: str
    block: int
    health_factor: int
    spend: Amount
    receive: Amount
    expected_spent: int
    gross_profit_base: int
    expected_profit_base: int
    gas_estimate: int
    payload: P_co

    def to_meta(self) -> dict[str, object]:
        """The journal's record of this plan (see ``LendingMarket.plan_from_meta``)."""
        return {
            "account": self.account,
            "block": self.block,
            "health_factor": self.health_factor,
            "spend_asset": self.spend.asset,
            "spend_amount": self.spend.amount,
            "receive_asset": self.receive.asset,
            "receive_amount": self.receive.amount,
            "expected_spent": self.expected_spent,
            "gross_profit_base": self.gross_profit_base,
            "expected_profit_base": self.expected_profit_base,
            "gas_estimate": self.gas_estimate,
            "payload": self.payload.to_meta(),
        }


@dataclass(frozen=True)
class Candidate:
    """An account the protocol says may be liquidated, as confirmed on chain at ``block``.

    ``market`` names the position inside a protocol that holds one account in several
    isolated markets (a Morpho Blue market id); None where an account has one position per
    market object (an Aave pool).
    """

    account: str
    health_factor: int  # 18 decimals
    debt_base: int  # base units
    collateral_base: int
    market: str | None = None


AnyPlan = Plan[PlanPayload]  # what the neutral stages hand around
