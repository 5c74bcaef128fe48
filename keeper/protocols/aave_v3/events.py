"""What the market's logs mean for the keeper's state. Pure: logs in, effects out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from keeper.chain.abi import Codec, load_artifact
from keeper.protocols.aave_v3.market import ORACLE, PROVIDER

if TYPE_CHECKING:
    from collections.abc import Iterable


def _events_of(*names: str) -> Codec:
    """One codec for the events of several ABIs (a market of any version emits a subset)."""
    entries = [e for n in names for e in load_artifact(n)["abi"] if e.get("type") == "event"]
    return Codec(entries)


# v3.0 and v3.6 events together: 3.1+ pools add some (DeficitCreated, grace periods, eMode
# bitmaps), 3.2 drops the stable-rate ones; the shared ones kept their signatures.
POOL_EVENTS = _events_of("aave_v3/IPool", "aave_v3_6/IPool")
CONFIGURATOR = _events_of("aave_v3/IPoolConfigurator", "aave_v3_6/IPoolConfigurator")
ATOKEN = Codec.named("aave_v3/IAToken")
FEED = Codec.named("IChainlinkAggregatorProxy")
_ZERO = "0x" + "00" * 20

# Pool events that change an account's position, and which argument names the account.
ACCOUNT_EVENTS: dict[str, tuple[str, ...]] = {
    "Supply": ("onBehalfOf",),
    "Withdraw": ("user",),
    "Borrow": ("onBehalfOf",),
    "Repay": ("user",),
    "LiquidationCall": ("user",),
    "ReserveUsedAsCollateralEnabled": ("user",),
    "ReserveUsedAsCollateralDisabled": ("user",),
    "UserEModeSet": ("user",),
    "SwapBorrowRateMode": ("user",),
    "RebalanceStableBorrowRate": ("user",),
    "MintUnbacked": ("onBehalfOf",),
    "DeficitCreated": ("user",),  # 3.3+: the rest of its debt burned as bad debt
    "DeficitCovered": ("caller",),  # 3.3+: the caller's aTokens burned against a deficit
}
RESERVE_EVENTS = {
    "ReserveDataUpdated": "reserve",
    "DeficitCreated": "debtAsset",
    "DeficitCovered": "reserve",
}
ORACLE_EVENTS = {"AssetSourceUpdated", "FallbackOracleUpdated", "BaseCurrencySet"}
# The provider's event naming a new PriceOracleSentinel (L2 markets; see sentinel.py).
SENTINEL_UPDATED = PROVIDER.topic("PriceOracleSentinelUpdated")


@dataclass
class Effects:
    """Accounts, reserves and prices that a run of logs touched."""

    touched: dict[int, set[str]] = field(default_factory=dict)  # block -> accounts
    reserves: set[str] = field(default_factory=set)
    config_changed: bool = False
    sources_changed: bool = False
    sentinel_changed: bool = False  # the provider named another PriceOracleSentinel
    answers: list[tuple[int, str, int, int]] = field(
        default_factory=list
    )  # block, feed, answer, at

    def accounts(self) -> set[str]:
        """Every account touched, whatever the block."""
        out: set[str] = set()
        for accounts in self.touched.values():
            out |= accounts
        return out

    def touch(self, block: int, *accounts: str) -> None:
        """Record accounts as touched in ``block`` (the zero address is not an account)."""
        bucket = self.touched.setdefault(block, set())
        bucket.update(a for a in accounts if a != _ZERO)


class EventDecoder:
    """Knows the market's contracts and turns their logs into :class:`Effects`."""

    def __init__(
        self, pool: str, configurator: str, oracle: str, provider: str | None = None
    ) -> None:
        self.pool = pool.lower()
        self.configurator = configurator.lower()
        self.oracle = oracle.lower()
        self.provider = None if provider is None else provider.lower()
        self.a_tokens: set[str] = set()
        self.feeds: set[str] = set()

    def addresses(self) -> list[str]:
        """Every contract whose logs matter."""
        known = {self.pool, self.configurator, self.oracle, *self.a_tokens, *self.feeds}
        if self.provider is not None:
            known.add(self.provider)
        return sorted(known)

    def topics(self) -> list[str]:
        """topic0 of every event that matters (an OR filter for eth_getLogs)."""
        names = {*ACCOUNT_EVENTS, *RESERVE_EVENTS}
        topics = [t for t, e in POOL_EVENTS.events_by_topic.items() if e["name"] in names]
        topics += list(CONFIGURATOR.events_by_topic)
        topics += [ORACLE.topic(n) for n in ORACLE_EVENTS]
        topics += [ATOKEN.topic("Transfer"), ATOKEN.topic("BalanceTransfer")]
        topics.append(FEED.topic("AnswerUpdated"))
        if self.provider is not None:
            topics.append(SENTINEL_UPDATED)
        return sorted(set(topics))

    def apply(self, logs: Iterable[dict[str, Any]]) -> Effects:
        """The effects of logs in chain order."""
        effects = Effects()
        for log in logs:
            self._one(log, effects)
        return effects

    def _one(self, log: dict[str, Any], effects: Effects) -> None:
        address = str(log.get("address", "")).lower()
        block = int(log["blockNumber"], 16)
        if address == self.pool:
            self._pool(log, block, effects)
        elif address == self.configurator:
            effects.config_changed |= CONFIGURATOR.decode_log(log) is not None
        elif address == self.oracle:
            effects.sources_changed |= ORACLE.decode_log(log) is not None
        elif address == self.provider:
            effects.sentinel_changed |= PROVIDER.decode_log(log) is not None
        elif address in self.a_tokens:
            decoded = ATOKEN.decode_log(log)
            if decoded is not None and decoded[0] in ("Transfer", "BalanceTransfer"):
                effects.touch(block, decoded[1]["from"], decoded[1]["to"])
        elif address in self.feeds:
            decoded = FEED.decode_log(log)
            if decoded is not None and decoded[0] == "AnswerUpdated":
                args = decoded[1]
                effects.answers.append(
                    (block, address, int(args["current"]), int(args["updatedAt"]))
                )

    def _pool(self, log: dict[str, Any], block: int, effects: Effects) -> None:
        decoded = POOL_EVENTS.decode_log(log)
        if decoded is None:
            return
        name, args = decoded
        if name in ACCOUNT_EVENTS:
            effects.touch(block, *(args[k] for k in ACCOUNT_EVENTS[name]))
            if name == "LiquidationCall" and args["receiveAToken"]:
                effects.touch(block, args["liquidator"])
        if name in RESERVE_EVENTS:
            effects.reserves.add(str(args[RESERVE_EVENTS[name]]))
