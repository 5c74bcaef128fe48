"""`keeper radar` and `keeper stress` on a snapshot file: every format parses, bad input exits 2."""

from __future__ import annotations

import csv
import io
import json
import sys

import pytest

from keeper.cli import main
from keeper.errors import ConfigError
from keeper.risk import snapshot
from keeper.risk.plots import require_matplotlib
from tests.unit.risk_market import borrower, market

A, B = "0x" + "0a" * 20, "0x" + "0b" * 20


@pytest.fixture
def snap(tmp_path):
    path = tmp_path / "market.json"
    state = market([borrower(A, 10 * 10**18, 790 * 10**6), borrower(B, 10 * 10**18, 700 * 10**6)])
    snapshot.save(state, path)
    return path


def _run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def _csv_sections(text):
    return [list(csv.reader(io.StringIO(part))) for part in text.split("\n\n")]


def test_radar_json_csv_and_table(capsys, snap):
    """Radar JSON loads with accounts and curves, CSV has a header per section, table prints."""
    code, out, _ = _run(capsys, "radar", "--snapshot", str(snap), "--format", "json")
    assert code == 0
    body = json.loads(out)
    assert [a["account"] for a in body["accounts"]] == [A, B]  # A: 790 debt, nearer
    assert body["accounts"][0]["collateral"][0]["liquidation_price"] == 9_875_000_000
    assert body["curves"]["COL"]["points"][13] == {
        "drop_pct": 13,
        "price": 87 * 10**8,
        "accounts": 2,
        "debt_base": 1490 * 10**8,
    }
    code, out, _ = _run(capsys, "radar", "--snapshot", str(snap), "--format", "csv")
    accounts, curves = _csv_sections(out)
    assert accounts[0][:3] == ["account", "health_factor", "total_collateral_base"]
    assert curves[0] == ["asset", "symbol", "drop_pct", "price", "accounts", "debt_base"]
    assert len(curves) == 1 + 2 * 51  # COL and USD, 0..50%
    code, out, _ = _run(capsys, "radar", "--snapshot", str(snap), "--max-drop", "20")
    assert code == 0
    assert "-1.25% @ 98.75" in out
    assert "-20%" in out


def test_stress_json_csv_and_table(capsys, snap):
    """Stress JSON holds the report and the cascade rounds; CSV has two headed sections."""
    argv = ["stress", "--snapshot", str(snap), "--shock", "COL=-10%", "--dex-depth-usd", "10000"]
    code, out, _ = _run(capsys, *argv, "--format", "json")
    assert code == 0
    body = json.loads(out)
    assert body["liquidatable_accounts"] == 1
    assert body["liquidatable_debt_base"] == 790 * 10**8
    assert body["debt_to_cover_base"] == 790 * 10**8
    assert body["bad_debt_base"] == 0
    assert [r["prices"]["COL"] for r in body["cascade"]["rounds"]] == [
        9_000_000_000,
        7_610_870_212,
        6_474_040_503,
    ]
    assert body["cascade"]["converged"] is True
    code, out, _ = _run(capsys, *argv, "--format", "csv")
    accounts, rounds = _csv_sections(out)
    assert accounts[0][0] == "account"
    assert accounts[1][0] == A
    assert rounds[0][:2] == ["round", "liquidated_accounts"]
    assert [row[0] for row in rounds[1:]] == ["1", "2", "3"]
    code, out, _ = _run(capsys, *argv)
    assert code == 0
    assert "fixed point after 3 rounds" in out


@pytest.mark.parametrize("shock", ["COL", "COL=abc", "COL=-100%", "=-5%", "COL=-250"])
def test_bad_shock_exits_2_naming_the_option(capsys, snap, shock):
    """A malformed --shock is a usage error (exit 2) whose message names --shock."""
    with pytest.raises(SystemExit) as exc:
        main(["stress", "--snapshot", str(snap), "--shock", shock])
    assert exc.value.code == 2
    assert "--shock" in capsys.readouterr().err


def test_unknown_shock_asset_exits_2_naming_the_option(capsys, snap):
    """A shock on an asset the market does not list exits 2, naming --shock and the reserves."""
    with pytest.raises(SystemExit) as exc:
        main(["stress", "--snapshot", str(snap), "--shock", "WETH=-10%"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--shock" in err
    assert "COL, USD" in err


def test_missing_snapshot_exits_2(capsys, tmp_path):
    """A snapshot that cannot be read is a usage error naming --snapshot."""
    with pytest.raises(SystemExit) as exc:
        main(["radar", "--snapshot", str(tmp_path / "none.json")])
    assert exc.value.code == 2
    assert "--snapshot" in capsys.readouterr().err


def test_plot_writes_a_png(capsys, snap, tmp_path):
    """--plot on both commands writes a PNG file."""
    for argv in (["radar"], ["stress", "--shock", "COL=-10%"]):
        target = tmp_path / f"{argv[0]}.png"
        code, _, err = _run(capsys, *argv, "--snapshot", str(snap), "--plot", str(target))
        assert code == 0
        assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert str(target) in err


def test_plot_without_matplotlib_names_the_fix(monkeypatch):
    """Without matplotlib, --plot fails with a configuration error naming the extra to install."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ConfigError, match=r"--plot: .*keeper\[plots\]"):
        require_matplotlib()


def test_price_rule_options_reach_the_report(capsys, snap):
    """--price-rule COL=1/2 halves the oracle's follow of the pool (COL 83.05 in round 2, not
    76.11) and is stated; --pass-through 0 holds every volatile asset; both land in the JSON.
    """
    argv = ["stress", "--snapshot", str(snap), "--shock", "COL=-10%", "--dex-depth-usd", "10000"]
    _, out, _ = _run(capsys, *argv, "--price-rule", "COL=1/2", "--format", "json")
    cascade = json.loads(out)["cascade"]
    assert cascade["price_rules"]["COL"] == {
        "rule": "pass-through",
        "share": "1/2",
        "why": "configured",
    }
    assert cascade["rounds"][1]["prices"]["COL"] == 8_305_435_106
    _, out, _ = _run(capsys, *argv, "--pass-through", "0", "--format", "json")
    cascade = json.loads(out)["cascade"]
    assert cascade["price_rules"]["COL"]["share"] == "0"
    assert {r["prices"]["COL"] for r in cascade["rounds"]} == {9_000_000_000}


@pytest.mark.parametrize(
    ("option", "value"),
    [("--price-rule", "COL=2"), ("--price-rule", "COL"), ("--pass-through", "1.5")],
)
def test_bad_price_rule_exits_2_naming_the_option(capsys, snap, option, value):
    """A share outside [0, 1] or a rule without `=` is a usage error naming its option."""
    with pytest.raises(SystemExit) as exc:
        main(["stress", "--snapshot", str(snap), "--shock", "COL=-10%", option, value])
    assert exc.value.code == 2
    assert option in capsys.readouterr().err


def test_radar_methods_agree(capsys, snap):
    """`keeper radar --method bisect` (the reference) prints the very JSON of the default."""
    _, solved, _ = _run(capsys, "radar", "--snapshot", str(snap), "--format", "json")
    _, bisect, _ = _run(
        capsys, "radar", "--snapshot", str(snap), "--format", "json", "--method", "bisect"
    )
    assert json.loads(solved) == json.loads(bisect)
