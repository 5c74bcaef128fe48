"""The bidding policy: what a plan's transactions pay per gas, and when a rival is let go. Pure.

All figures are integers in wei per gas. For one plan:

- break-even price ``P`` = (gross profit - minimum profit) x 1e18 / (gas estimate x native
  price), rounded down: the price per gas at which the plan's profit falls to the minimum
  (never below today's base fee + floor, at which the plan was accepted);
- break-even tip = ``P`` - base fee (never below 0);
- share bound = break-even tip x ``bid_share_bps`` / 10,000, rounded down;
- tip ceiling = min(max(floor, share bound), break-even tip, ``max_priority_fee``);
- fee ceiling = min(``P``, ``max_fee``): no transaction of the plan, replacements included,
  ever offers more per gas.

The bid is the least that beats the competition we can see. Nobody visible: the floor (default
the node's suggested tip), max fee = min(2 x base fee + tip, fee ceiling). A rival whose
effective tip is at or above ours: just above it, and enough for a valid replacement of our
pending transaction (both fields up by 12.5%, rounded up):

    tip = max(rival tip + 1, our tip x 1.125)
    max fee = min(max(our max fee x 1.125, 2 x base fee + tip, rival max fee + 1), fee ceiling)

Nodes rank by effective tip (geth, builders) or by max fee (Anvil): the bid beats the rival on
both where the fee ceiling allows. Above the tip ceiling, or with no valid replacement under the
fee ceiling, we let the rival have the liquidation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

WEI_PER_NATIVE = 10**18
BPS = 10_000
# geth's txpool refuses a replacement unless both fee fields rise by at least 10%; we bump by
# 12.5% (the minimum most clients and relays accept), rounding up.
BUMP_NUM, BUMP_DEN = 1125, 1000


@dataclass(frozen=True)
class Fees:
    """The two EIP-1559 fee fields, in wei."""

    max_fee_per_gas: int
    max_priority_fee_per_gas: int


def is_valid_replacement(old: Fees, new: Fees) -> bool:
    """True if ``new`` raises both fee caps by at least 12.5% over ``old``."""
    return (
        new.max_fee_per_gas * BUMP_DEN >= old.max_fee_per_gas * BUMP_NUM
        and new.max_priority_fee_per_gas * BUMP_DEN >= old.max_priority_fee_per_gas * BUMP_NUM
    )


def bump(value: int) -> int:
    """``value`` x 1.125, rounded up: the least a replacement's field may be."""
    return -(-value * BUMP_NUM // BUMP_DEN)


def effective_tip(fees: Fees, base_fee: int) -> int:
    """What a transaction with ``fees`` pays the block above ``base_fee``, per gas."""
    return max(0, min(fees.max_priority_fee_per_gas, fees.max_fee_per_gas - base_fee))


def break_even_price(margin_base: int, gas: int, native_price: int) -> int | None:
    """Wei per gas at which ``gas`` units cost ``margin_base`` base units (rounded down).

    None when it cannot be known (no native price, no gas estimate).
    """
    if native_price <= 0 or gas <= 0:
        return None
    return max(0, margin_base) * WEI_PER_NATIVE // (gas * native_price)


@dataclass(frozen=True)
class BidPolicy:
    """The operator's terms: the share of the margin a bid may give away, the floor, the caps.

    ``floor`` None: the node's suggested tip. ``share_bps`` 0: never bid above the floor.
    """

    share_bps: int
    max_tip: int
    max_fee: int
    floor: int | None = None


@dataclass(frozen=True)
class BidLimits:
    """What one plan's transactions may pay: the opening tip and the break-even price."""

    floor: int  # the opening tip, within the caps
    break_even: int  # P, never below the price the plan was accepted at
    share_bps: int
    max_tip: int
    max_fee: int

    @property
    def fee_ceiling(self) -> int:
        """The most max fee any transaction of the plan offers."""
        return min(self.break_even, self.max_fee)

    def tip_ceiling(self, base_fee: int) -> int:
        """The most tip a bid may offer at ``base_fee``."""
        margin_tip = max(0, self.break_even - base_fee)
        share = margin_tip * self.share_bps // BPS
        return min(max(self.floor, share), margin_tip, self.max_tip)

    def opening(self, base_fee: int) -> Fees:
        """The bid with no visible rival: the floor, max fee 2 x base fee + tip (ceiled)."""
        fee = min(2 * base_fee + self.floor, self.fee_ceiling)
        return Fees(fee, min(self.floor, fee))

    def to_meta(self) -> dict[str, int]:
        """What the journal keeps beside each transaction of the plan (for replacements)."""
        return {
            "fee_ceiling": self.break_even,
            "bid_floor": self.floor,
            "bid_share_bps": self.share_bps,
        }


def plan_limits(
    policy: BidPolicy,
    *,
    margin_base: int,
    gas: int,
    native_price: int,
    base_fee: int,
    suggested_tip: int,
) -> BidLimits | None:
    """The limits of a plan whose margin (gross - minimum profit) is ``margin_base``.

    ``suggested_tip`` is the node's (the floor when the policy sets none). None when the
    break-even price cannot be known (no native price or gas estimate): no bid is bounded.
    """
    price = break_even_price(margin_base, gas, native_price)
    if price is None:
        return None
    floor = min(suggested_tip if policy.floor is None else policy.floor, policy.max_tip)
    # The plan was accepted at today's price (base fee + floor): the estimate above the
    # simulated gas never makes the ceiling refuse that.
    price = max(price, base_fee + floor)
    return BidLimits(floor, price, policy.share_bps, policy.max_tip, policy.max_fee)


def coinbase_bid(
    policy: BidPolicy, *, margin_base: int, gas_cost_base: int, native_price: int
) -> int:
    """Wei a bundle pays ``block.coinbase`` for a plan, from inside the liquidation.

    ``share_bps`` of what the plan earns above the minimum (``margin_base``) once its gas is
    paid (``gas_cost_base``), in wei at the native price, rounded down; 0 when nothing is left
    or the native price is unknown.
    """
    spare = margin_base - gas_cost_base
    if spare <= 0 or native_price <= 0:
        return 0
    return spare * policy.share_bps // BPS * WEI_PER_NATIVE // native_price


@dataclass
class BidFloat:
    """The ether our contract holds for coinbase bids at a head, spent by that head's bids.

    The contract pays a bid from its own ether and reverts the whole liquidation when that is
    short: every bid of the head is capped to what the earlier ones left (0 when nothing is).
    """

    left: int

    def take(self, bid: int) -> int:
        """``bid`` capped to what is left, which it then uses."""
        paid = max(0, min(bid, self.left))
        self.left -= paid
        return paid


def limits_from_meta(meta: Mapping[str, object], max_tip: int, max_fee: int) -> BidLimits | None:
    """The limits journaled with a transaction (``BidLimits.to_meta``), if it has them."""
    try:
        price, floor, share = (meta.get(k) for k in ("fee_ceiling", "bid_floor", "bid_share_bps"))
        if price is None:
            return None
        if floor is None or share is None:  # journaled before the policy: the caps alone
            return BidLimits(0, int(str(price)), BPS, max_tip, max_fee)
        return BidLimits(int(str(floor)), int(str(price)), int(str(share)), max_tip, max_fee)
    except ValueError:
        return None


def rival_ahead(ours: Fees, rival_tip: int, base_fee: int) -> bool:
    """True when a rival paying ``rival_tip`` (effective) is at or above our bid."""
    return rival_tip >= effective_tip(ours, base_fee)


def outbid(
    ours: Fees, rival_tip: int, rival_max_fee: int, base_fee: int, limits: BidLimits
) -> Fees | None:
    """The least bid above a rival's effective tip that replaces ``ours``; None: let it go."""
    tip = max(rival_tip + 1, bump(ours.max_priority_fee_per_gas))
    if tip > limits.tip_ceiling(base_fee):
        return None
    fee = max(bump(ours.max_fee_per_gas), 2 * base_fee + tip, rival_max_fee + 1)
    new = Fees(min(fee, limits.fee_ceiling), tip)
    if (
        new.max_priority_fee_per_gas > new.max_fee_per_gas
        or effective_tip(new, base_fee) <= rival_tip
        or not is_valid_replacement(ours, new)
    ):
        return None
    return new
