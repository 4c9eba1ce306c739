"""Synth of one environment: the fast bindings import against the stock import.

Runs ``main.py`` (what ``make synth`` runs) with ``WORKER_ENVS`` limited to one
environment, into a fresh temporary ``CDKTF_OUTDIR`` each time, alternately
with the fast path and with ``WORKER_STOCK_IMPORT=1``, so that load from other
processes on the machine hits both alike. One untimed warm-up run of each
comes first (jsii cache, page cache), so the figures are warm synths. Wall
time and peak RSS are over the Python process and its Node child together
(``_measure.run_measured``). The ratios are stock / fast of the medians of
this run.

Usage: python bench/synth_speed.py [--runs 5] [--env local] [--json PATH]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from _measure import (
    ROOT,
    VENV_PYTHON,
    Run,
    bench_arguments,
    log,
    machine,
    run_checked,
    stats,
    stats_dict,
    toolchain_env,
    write_json,
)

GOAL_WALL_S = 4.0
GOAL_RSS_MB = 800.0
GOAL_RATIO = 3.0
MODES = {"fast": "", "stock": "1"}
"""Mode -> value of WORKER_STOCK_IMPORT."""


def synth_once(env_name: str, stock_flag: str, outdir: Path) -> Run:
    return run_checked(
        [str(VENV_PYTHON), str(ROOT / "main.py")],
        env=toolchain_env(
            WORKER_ENVS=env_name, WORKER_STOCK_IMPORT=stock_flag, CDKTF_OUTDIR=str(outdir)
        ),
        what=f"main.py (WORKER_STOCK_IMPORT={stock_flag or 'unset'})",
    )


def measure(env_name: str, runs: int) -> dict[str, Any]:
    walls: dict[str, list[float]] = {mode: [] for mode in MODES}
    rss: dict[str, list[float]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory(prefix="bench-synth-") as tmp:
        for mode, flag in MODES.items():
            log(f"synth warm-up, {mode}")
            synth_once(env_name, flag, Path(tmp) / f"warm-{mode}")
        for index in range(runs):
            for mode, flag in MODES.items():
                result = synth_once(env_name, flag, Path(tmp) / f"{mode}-{index}")
                walls[mode].append(result.wall_s)
                rss[mode].append(result.peak_rss_mb)
                log(
                    f"synth {mode} #{index + 1}: {result.wall_s:.2f} s, {result.peak_rss_mb:.0f} MB"
                )
    fast_wall, stock_wall = stats(walls["fast"]), stats(walls["stock"])
    fast_rss, stock_rss = stats(rss["fast"]), stats(rss["stock"])
    wall_ratio = stock_wall.median / fast_wall.median
    rss_ratio = stock_rss.median / fast_rss.median
    return {
        "benchmark": "synth_speed",
        "environment": env_name,
        "runs": runs,
        "wall_s": {mode: stats_dict(values) for mode, values in walls.items()},
        "peak_rss_mb": {mode: stats_dict(values) for mode, values in rss.items()},
        "raw": {"wall_s": walls, "peak_rss_mb": rss},
        "ratio_stock_over_fast": {"wall": round(wall_ratio, 2), "peak_rss": round(rss_ratio, 2)},
        "goals": {
            "fast_wall_s_le_4": fast_wall.median <= GOAL_WALL_S,
            "fast_peak_rss_mb_le_800": fast_rss.median <= GOAL_RSS_MB,
            "wall_ratio_ge_3": wall_ratio >= GOAL_RATIO,
        },
    }


def markdown(result: dict[str, Any]) -> str:
    wall, rss = result["wall_s"], result["peak_rss_mb"]
    ratio = result["ratio_stock_over_fast"]
    rows = [
        f"Synth of `{result['environment']}` (`WORKER_ENVS={result['environment']}"
        f" python main.py`), {result['runs']} runs each, alternating; median (min-max).",
        "",
        "| Import | Wall time | Peak RSS, Python + Node |",
        "|---|---|---|",
    ]
    for mode in MODES:
        rows.append(
            f"| {mode} | {stats_text(wall[mode], 's')} | {stats_text(rss[mode], 'MB', 0)} |"
        )
    rows.append(f"| **stock / fast** | **{ratio['wall']:.2f}x** | **{ratio['peak_rss']:.2f}x** |")
    return "\n".join(rows)


def stats_text(values: dict[str, float], unit: str, digits: int = 2) -> str:
    return (
        f"{values['median']:.{digits}f} {unit} "
        f"({values['min']:.{digits}f}-{values['max']:.{digits}f})"
    )


def main(argv: list[str] | None = None) -> int:
    args = bench_arguments(
        __doc__,
        "timed runs per mode",
        argv,
        env={"default": "local", "help": "environment to synthesize (default local)"},
    )
    result = {"machine": machine(), **measure(args.env, args.runs)}
    result["load_average_at_end"] = machine()["load_average"]
    print(markdown(result))
    write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
