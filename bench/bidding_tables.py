"""RESULTS.md's tables of the bidding policy (issue 18): who bid how, what each keeper paid."""

from __future__ import annotations

from typing import Any

TIP_BUDGET_GWEI = "3"  # max_priority_fee_gwei of both keepers
NODE_TIP_GWEI = "1"  # Anvil's suggested tip: the default before issue 18, as a fixed tip


def pct(value: float | None) -> str:
    """A share as a whole percentage."""
    return "n/a" if value is None else f"{100 * value:.0f}%"


def verdict(ok: bool | None) -> str:
    """A goal's verdict."""
    return "n/a" if ok is None else ("met" if ok else "**not met**")


def tip_name(race: dict[str, Any]) -> str:
    """How our keeper bid in ``race``."""
    names = {"default": "default (bidding)", NODE_TIP_GWEI: f"{NODE_TIP_GWEI} gwei fixed"}
    return names.get(str(race["tip"]), str(race["tip"]))


def baseline_name(race: dict[str, Any]) -> str:
    """How the baseline bid in ``race`` (or that it did not run)."""
    mode = race.get("baseline", "x1.2")
    if mode == "share":
        return f"bids {race['baseline_share_bps'] / 100:g}% of its profit"
    return {"x1.2": "gasPrice x 1.2", "none": "none (ours alone)"}[mode]


def _paid(tips: dict[str, Any] | None) -> str:
    if not tips or not tips.get("n"):
        return "n/a"
    return f"{tips['mean_gwei']} / {tips['max_gwei']} gwei ({tips['n']})"


def bidding_rows(races: list[dict[str, Any]]) -> list[str]:
    """Per race: our win share, the tips each keeper paid, our competition watch's work."""
    rows = [
        (
            "| accounts | tip (ours) | baseline | our share | our tip paid per liquidation "
            "tx: mean / max (n) | mean / budget | baseline's tip paid: mean / max (n) "
            "| rivals outbid / let go |"
        ),
        "| ---: | --- | --- | ---: | --- | ---: | --- | ---: |",
    ]
    for r in races:
        ours, bidding = r.get("ours_tip_paid"), r.get("ours_bidding") or {}
        ratio = f"{ours['mean_over_budget_bps'] / 100:.0f}%" if ours and ours.get("n") else "n/a"
        share = pct(r["ours_win_share"]) if r.get("baseline") != "none" else "n/a (alone)"
        rows.append(
            f"| {r['accounts']:,} | {tip_name(r)} | {baseline_name(r)} | {share} "
            f"| {_paid(ours)} | {ratio} | {_paid(r.get('baseline_tip_paid'))} "
            f"| {bidding.get('rivals_outbid', 'n/a')} / {bidding.get('rivals_let_go', 'n/a')} |"
        )
    return rows


def bidding_goals(races: list[dict[str, Any]]) -> list[str]:
    """Issue 18's goals: default settings win the race, and pay less than the budget alone."""
    rows = []
    for r in races:
        if r["tip"] != "default":
            continue
        if r.get("baseline", "x1.2") == "x1.2":
            share = r["ours_win_share"]
            rows.append(
                f"| default settings win >= 95% against the baseline ({r['accounts']:,} "
                f"accounts) | {pct(share)} ({r['won_ours']} of {r['opportunities']}) "
                f"| {verdict(None if share is None else share >= 0.95)} |"
            )
        if r.get("baseline") == "none":
            tips = r.get("ours_tip_paid") or {}
            under = tips["mean_over_budget_bps"] < 10_000 if tips.get("n") else None
            of_budget = f", {tips['mean_over_budget_bps'] / 100:g}% of it" if under else ""
            rows.append(
                f"| default settings alone pay less than the {TIP_BUDGET_GWEI} gwei budget "
                f"| {_paid(tips)} per liquidation{of_budget} | {verdict(under)} |"
            )
    return rows
