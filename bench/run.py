"""Run the engine benchmarks and print a Markdown table (see bench/README.md).

.venv/bin/python bench/run.py
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _run(script: str, arg: int) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, str(HERE / script), str(arg)],
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    """Each size in its own process (peak RSS is per process)."""
    rows = [_run("engine_bench.py", n) for n in (10_000, 100_000)]
    print("| accounts | full recompute | one-asset update (accounts exposed) | peak RSS |")
    print("| ---: | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r['accounts']:,} | {r['full_recompute_s']} s | {r['one_asset_recompute_s']} s "
            f"({r['exposed_to_one_asset']:,}) | {r['peak_rss_mb']} MB |"
        )
    base = _run("rpc_baseline.py", 1_000)
    print()
    print("| accounts on devnet | getUserAccountData batches | local recompute | ratio | equal |")
    print("| ---: | ---: | ---: | ---: | --- |")
    print(
        f"| {base['accounts']:,} | {base['rpc_batches_s']} s | {base['local_recompute_s']} s "
        f"| {base['ratio_rpc_over_local']}x | {base['equal_to_the_wei']} |"
    )


if __name__ == "__main__":
    main()
