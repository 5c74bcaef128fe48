"""Which Pool version a market runs, read from the chain, and what differs between versions.

Every rule that changed between Aave v3.0 and v3.6 is one named property of :class:`PoolRules`,
so the math and the liquidation rules ask "does this pool burn bad debt?" rather than compare
version strings. The version comes from ``Pool.POOL_REVISION()``; a revision the keeper does
not know is refused (never silently wrong math).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from keeper.errors import ConfigError


class AaveVersion(StrEnum):
    """A Pool release line (aave-v3-core 1.x for 3.0, aave-v3-origin tags after it)."""

    V3_0 = "3.0"
    V3_1 = "3.1"
    V3_2 = "3.2"
    V3_3 = "3.3"
    V3_4 = "3.4"
    V3_5 = "3.5"
    V3_6 = "3.6"


# Pool.POOL_REVISION() of each release (PoolInstance.sol at each tag; 1 to 3 are the v3.0.x
# patch upgrades of aave-v3-core).
REVISIONS: dict[int, AaveVersion] = {
    1: AaveVersion.V3_0,
    2: AaveVersion.V3_0,
    3: AaveVersion.V3_0,
    4: AaveVersion.V3_1,
    5: AaveVersion.V3_2,
    6: AaveVersion.V3_2,
    7: AaveVersion.V3_3,
    8: AaveVersion.V3_4,
    9: AaveVersion.V3_5,
    10: AaveVersion.V3_6,
}
# Exactness proven against this release's own bytecode on the devnet (the others follow the
# source of their tag, rule by rule).
VERIFIED_ON_BYTECODE = (AaveVersion.V3_0, AaveVersion.V3_6)


# Releases in order (the enum lists them ascending); a rule check is two dict reads.
_RANK = {v: i for i, v in enumerate(AaveVersion)}


@dataclass(frozen=True, slots=True)
class PoolRules:
    """The rule set of one Pool version."""

    version: AaveVersion = AaveVersion.V3_0

    def _at_least(self, version: AaveVersion) -> bool:
        return _RANK[self.version] >= _RANK[version]

    @property
    def grace_period(self) -> bool:
        """3.1: liquidations on a reserve revert until its ``liquidationGracePeriodUntil``."""
        return self._at_least(AaveVersion.V3_1)

    @property
    def emode_bitmaps(self) -> bool:
        """3.2: eMode terms apply to the assets of the category's collateral bitmap.

        Before, to the reserves whose configuration names the category; 3.2 also drops the
        eMode price source, stable debt and ``PoolDataProvider.getReserveEModeCategory``.
        """
        return self._at_least(AaveVersion.V3_2)

    @property
    def stable_debt(self) -> bool:
        """Stable-rate debt exists (gone in 3.2)."""
        return not self.emode_bitmaps

    @property
    def close_factor_on_total_debt(self) -> bool:
        """3.3: close factor on the total debt, 100% for small positions, dust rule, deficit."""
        return self._at_least(AaveVersion.V3_3)

    @property
    def new_compounding(self) -> bool:
        """3.4: ``calculateCompoundedInterest`` is ``1 + x + x(x/2 + x.x/6)``."""
        return self._at_least(AaveVersion.V3_4)

    @property
    def custom_errors(self) -> bool:
        """3.4: reverts are custom errors (``MustNotLeaveDust()``), not string codes."""
        return self._at_least(AaveVersion.V3_4)

    @property
    def directed_rounding(self) -> bool:
        """3.5: balances floor (collateral) or ceil (debt); the new health-factor formula."""
        return self._at_least(AaveVersion.V3_5)

    @property
    def zero_lt_collateral_counts(self) -> bool:
        """3.6: enabled collateral with LT 0 counts in total collateral and can be seized."""
        return self._at_least(AaveVersion.V3_6)

    @property
    def ltvzero_bitmap(self) -> bool:
        """3.6: an eMode category's ``ltvzeroBitmap`` zeroes the LTV of its members."""
        return self._at_least(AaveVersion.V3_6)

    @property
    def seize_margin(self) -> bool:
        """Before 3.3, taking the whole collateral balance can revert (rounding of the burn).

        Seen on v3.0 bytecode (panic 0x11); leaving a few units costs nothing there, while
        3.3+ requires taking it all when the rest would be dust.
        """
        return not self.close_factor_on_total_debt


def version_of_revision(revision: int) -> AaveVersion:
    """The release of a ``POOL_REVISION()``; an unknown one is a configuration error."""
    try:
        return REVISIONS[revision]
    except KeyError:
        supported = ", ".join(f"{r} ({v.value})" for r, v in sorted(REVISIONS.items()))
        raise ConfigError(
            f"pool_addresses_provider: the Pool reports POOL_REVISION {revision}, which this "
            f"keeper does not know (supported: {supported}); its math may differ, so it will "
            "not run on it: upgrade the keeper"
        ) from None


def checked_version(revision: int, configured: AaveVersion | None) -> AaveVersion:
    """The chain's version; an operator's ``pool_version`` override must agree with it."""
    found = version_of_revision(revision)
    if configured is not None and configured != found:
        raise ConfigError(
            f"pool_version: configured {configured.value} but the Pool reports POOL_REVISION "
            f"{revision} ({found.value}); remove pool_version or set it to {found.value}"
        )
    return found
