"""Pictures of the radar and the stress test (matplotlib, drawn off-screen with Agg).

Floats are fine here: a plot is for the eye, the numbers it draws come from the exact reports.
matplotlib is an optional dependency (the ``plots`` extra); :func:`require_matplotlib` names the
fix when it is missing.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from keeper.errors import ConfigError
from keeper.protocols.aave_v3.math import MAX_UINT256, WAD

if TYPE_CHECKING:
    from collections.abc import Sequence

    from matplotlib.axes import Axes

    from keeper.risk.radar import CurvePoint

HF_MAX = 3.0  # health factors above are drawn in the last bin
HF_BIN = 0.05
INSTALL_HINT = (
    "matplotlib is not installed: pip install 'liquidation-keeper[plots]' (or the dev extra)"
)


def require_matplotlib() -> None:
    """Raise ConfigError naming the fix when matplotlib cannot be imported."""
    try:
        import matplotlib as mpl  # noqa: F401, PLC0415 - an optional dependency, checked on use
    except ImportError:
        raise ConfigError(f"--plot: {INSTALL_HINT}") from None


@dataclass
class PlotData:
    """What one picture shows."""

    title: str
    curves: dict[str, list[CurvePoint]]  # label (asset symbol) -> points
    health: list[tuple[str, list[int]]]  # (label, health factors in wad) per histogram
    base_unit: int = 10**8
    price_paths: dict[str, list[float]] = field(default_factory=dict)  # symbol -> % per round


def _scale(max_value: float, currency: str) -> tuple[float, str]:
    if max_value >= 1e9:
        return 1e9, f"billion {currency}"
    if max_value >= 1e6:
        return 1e6, f"million {currency}"
    if max_value >= 1e3:
        return 1e3, f"thousand {currency}"
    return 1.0, currency


def _curves(ax: Axes, data: PlotData) -> None:
    currency = "USD" if data.base_unit == 10**8 else "base currency"
    top = max(
        (p.debt_base / data.base_unit for pts in data.curves.values() for p in pts), default=0.0
    )
    factor, label = _scale(top, currency)
    for k, (name, points) in enumerate(data.curves.items()):
        ax.plot(
            [p.drop_pct for p in points],
            [p.debt_base / data.base_unit / factor for p in points],
            color=f"C{k}",
            marker="o",
            markersize=2.5,
            linewidth=1.6,
            label=f"{name} falls",
        )
    ax.set_xlabel("price drop of one asset, others unchanged (%)")
    ax.set_ylabel(f"liquidatable debt ({label})")
    ax.set_title("Debt liquidatable after a price drop")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.grid(visible=True, alpha=0.3)
    if data.curves:
        ax.legend(loc="upper left", frameon=False)


def _hf_value(hf: int) -> float:
    if hf == MAX_UINT256:
        return HF_MAX
    return min(hf / WAD, HF_MAX)


def _health(ax: Axes, data: PlotData) -> None:
    bins = [k * HF_BIN for k in range(int(HF_MAX / HF_BIN) + 1)]
    for label, values in data.health:
        ax.hist(
            [_hf_value(v) for v in values],
            bins=bins,
            histtype="stepfilled",
            alpha=0.45,
            edgecolor="black",
            linewidth=0.6,
            label=f"{label} ({len(values)} accounts)",
        )
    ax.axvline(1.0, color="red", linestyle="--", linewidth=1.2, label="liquidation (HF = 1)")
    ax.set_xlim(0, HF_MAX)
    ax.set_xlabel(f"health factor (bins of {HF_BIN}; above {HF_MAX:g} drawn at {HF_MAX:g})")
    ax.set_ylabel("accounts with debt")
    ax.set_title("Health-factor distribution")
    ax.grid(visible=True, alpha=0.3)
    ax.legend(loc="upper right", frameon=False)


def _paths(ax: Axes, data: PlotData) -> None:
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415 - optional dependency

    # The same colour as the asset's debt curve (both follow the market's reserve order).
    for k, (name, path) in enumerate(data.price_paths.items()):
        ax.plot(range(1, len(path) + 1), path, color=f"C{k}", marker="o", linewidth=1.6, label=name)
    ax.axhline(0.0, color="grey", linewidth=0.8)
    ax.set_xlabel("cascade round")
    ax.set_ylabel("oracle price vs before the shock (%)")
    ax.set_title("Prices through the cascade")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(visible=True, alpha=0.3)
    ax.legend(loc="best", frameon=True, framealpha=0.85)


def render_png(data: PlotData) -> bytes:
    """The picture as PNG bytes."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    panels = 3 if data.price_paths else 2
    fig = Figure(figsize=(6.4 * panels, 5.0), layout="constrained")
    FigureCanvasAgg(fig)
    axes: Sequence[Axes] = fig.subplots(1, panels, squeeze=False)[0]
    _curves(axes[0], data)
    _health(axes[1], data)
    if data.price_paths:
        _paths(axes[2], data)
    fig.suptitle(data.title, fontsize=13)
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=100)
    return out.getvalue()
