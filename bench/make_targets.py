"""``make synth`` when nothing changed, and ``make validate``.

* No-op ``make synth``: one ``make synth`` first brings ``cdktf.out`` up to
  date (untimed), then each timed run must print the up-to-date message (the
  benchmark fails if one re-synthesizes). It reports any synth input whose
  modification time lies in the future: make then rebuilds the Lambda zip on
  every run (its rule is by mtime; synth itself is by content digest).
* ``make validate``: the whole target, i.e. the no-op synth, then ``terraform
  init -backend=false`` and ``validate`` of every synthesized stack, offline.

Usage: python bench/make_targets.py [--runs 5] [--json PATH]
"""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

from _measure import (
    ROOT,
    bench_arguments,
    log,
    machine,
    run_checked,
    stats,
    stats_dict,
    stats_text,
    toolchain_env,
    write_json,
)

GOAL_NOOP_S = 1.0
UP_TO_DATE = "cdktf.out is up to date"


def future_inputs() -> list[str]:
    """Synth and Lambda inputs whose mtime is ahead of the clock (make's clock-skew case)."""
    now = time.time()
    candidates = [ROOT / "main.py", ROOT / "cdktf.json"]
    for folder in ("modules", "config", "lambda"):
        candidates += [p for p in (ROOT / folder).rglob("*") if p.is_file()]
    return sorted(
        str(p.relative_to(ROOT))
        for p in candidates
        if "__pycache__" not in p.parts and p.stat().st_mtime > now + 1
    )


def measure(runs: int) -> dict[str, Any]:
    env = toolchain_env()
    log("make synth (bring cdktf.out up to date)")
    subprocess.run(["make", "synth"], cwd=ROOT, env=env, check=True, capture_output=True)
    noop: list[float] = []
    for index in range(runs):
        result = run_checked(["make", "synth"], env=env, what="make synth")
        if UP_TO_DATE not in result.output:
            raise RuntimeError(f"make synth re-synthesized with unchanged inputs:\n{result.output}")
        noop.append(result.wall_s)
        log(f"no-op make synth #{index + 1}: {result.wall_s:.3f} s")
    validate: list[float] = []
    stacks = 0
    for index in range(runs):
        result = run_checked(["make", "validate"], env=env, what="make validate")
        stacks = result.output.count("Success! The configuration is valid.")
        if stacks == 0:
            raise RuntimeError(f"make validate validated nothing:\n{result.output}")
        validate.append(result.wall_s)
        log(f"make validate #{index + 1}: {result.wall_s:.2f} s ({stacks} stacks)")
    noop_stats = stats(noop)
    return {
        "benchmark": "make_targets",
        "runs": runs,
        "noop_make_synth_s": stats_dict(noop),
        "make_validate_s": stats_dict(validate),
        "validated_stacks": stacks,
        "future_mtime_inputs": future_inputs(),
        "goals": {"noop_make_synth_lt_1s": noop_stats.median < GOAL_NOOP_S},
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "| Target | Time, median (min-max) |",
        "|---|---|",
        f"| no-op `make synth` | {stats_text(result['noop_make_synth_s'], 3)} |",
        f"| `make validate` ({result['validated_stacks']} stacks) |"
        f" {stats_text(result['make_validate_s'])} |",
    ]
    if result["future_mtime_inputs"]:
        lines += [
            "",
            "Inputs with a modification time in the future (make rebuilds the Lambda zip"
            f" on each run): {', '.join(result['future_mtime_inputs'])}.",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = bench_arguments(__doc__, "timed runs per target", argv)
    result = {"machine": machine(), **measure(args.runs)}
    print(markdown(result))
    write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
