"""Measurement helpers shared by the bench scripts (standard library only).

* ``run_measured(cmd)``: wall time and peak RSS of a command *and all its
  descendants together* (a cdktf synth is Python plus a Node child). The tree
  is found through ``/proc/<pid>/task/<tid>/children`` and each member's
  ``VmRSS`` is read from ``/proc/<pid>/status`` every ``SAMPLE_SECONDS``; the
  peak is the largest sum seen. Summed RSS counts shared pages (libraries) once
  per process, so it is an upper bound, like ``ps``; a peak shorter than one
  sampling interval can be missed. ``getrusage(RUSAGE_CHILDREN)`` cannot
  replace this: its ``maxrss`` is the largest single process, not the sum.
* ``Stats`` / ``stats()``: median, min and max of repeated runs.
* ``machine()``: cores, memory, CPU, Python, Node and Terraform versions, load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
CACHE = ROOT / ".cache"
SAMPLE_SECONDS = 0.02
"""RSS sampling interval of ``run_measured`` (20 ms)."""

TOOLCHAIN_ENV = {
    "CHECKPOINT_DISABLE": "1",
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    "JSII_RUNTIME_PACKAGE_CACHE_ROOT": str(CACHE / "jsii"),
    "TF_PLUGIN_CACHE_DIR": str(CACHE / "terraform-plugins"),
    "TF_CLI_CONFIG_FILE": str(CACHE / "terraformrc"),
    "PATH": f"{ROOT / '.venv' / 'bin'}:{ROOT / 'node_modules' / '.bin'}:{os.environ['PATH']}",
}
"""The project-local toolchain environment the Makefile exports (NOTES §1)."""


def toolchain_env(**extra: str) -> dict[str, str]:
    """``os.environ`` plus ``TOOLCHAIN_ENV`` plus ``extra``."""
    return {**os.environ, **TOOLCHAIN_ENV, **extra}


@dataclass(frozen=True)
class Run:
    """One measured command: ``wall_s`` seconds, ``peak_rss_mb`` over its process tree."""

    wall_s: float
    peak_rss_mb: float
    returncode: int
    output: str


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found += [int(child) for child in handle.read().split()]
        except OSError:
            continue
    return found


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0  # exited between listing and reading, or a zombie


def tree_rss_kb(root_pid: int) -> int:
    """Summed ``VmRSS`` (KiB) of ``root_pid`` and all its descendants right now."""
    total, pending, seen = 0, [root_pid], set()
    while pending:
        pid = pending.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += _rss_kb(pid)
        pending += _children(pid)
    return total


def run_measured(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path = ROOT,
    timeout: float = 1800,
) -> Run:
    """Run ``command`` to completion, sampling its process tree's RSS every 20 ms."""
    peak = 0
    started = time.perf_counter()
    process = subprocess.Popen(
        list(command),
        cwd=cwd,
        env=dict(env) if env is not None else None,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    chunks: list[str] = []
    stdout = process.stdout
    assert stdout is not None  # stdout=PIPE
    # Drained by a thread, so a chatty child never blocks on a full pipe while we sample.
    reader = threading.Thread(target=lambda: chunks.append(stdout.read()), daemon=True)
    reader.start()
    deadline = started + timeout
    while process.poll() is None:
        peak = max(peak, tree_rss_kb(process.pid))
        if time.perf_counter() > deadline:
            process.kill()
            break
        time.sleep(SAMPLE_SECONDS)
    returncode = process.wait()
    wall = time.perf_counter() - started
    reader.join(timeout=10)
    return Run(round(wall, 3), round(peak / 1024, 1), returncode, "".join(chunks))


def run_checked(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path = ROOT,
    what: str = "",
) -> Run:
    """``run_measured``, raising ``RuntimeError`` with the output's tail on a non-zero exit."""
    result = run_measured(command, env=env, cwd=cwd)
    if result.returncode != 0:
        raise RuntimeError(
            f"{what or command[0]} exited {result.returncode}:\n{result.output[-3000:]}"
        )
    return result


@dataclass(frozen=True)
class Stats:
    """Median, min and max of ``n`` values."""

    median: float
    min: float
    max: float
    n: int

    def text(self, unit: str = "", digits: int = 2) -> str:
        """``median (min-max) unit, n=…`` for tables."""
        u = f" {unit}" if unit else ""
        return (
            f"{self.median:.{digits}f}{u} ({self.min:.{digits}f}-{self.max:.{digits}f}, n={self.n})"
        )


def stats(values: Sequence[float]) -> Stats:
    """Median, min and max. Raises ``ValueError`` for no values."""
    if not values:
        raise ValueError("stats() of no values")
    return Stats(
        round(statistics.median(values), 4),
        round(min(values), 4),
        round(max(values), 4),
        len(values),
    )


def stats_dict(values: Sequence[float]) -> dict[str, float]:
    return asdict(stats(values))


def stats_text(values: Mapping[str, float], digits: int = 2, unit: str = "s") -> str:
    """``Stats.text`` of a ``stats_dict`` read back from JSON."""
    return Stats(values["median"], values["min"], values["max"], int(values["n"])).text(
        unit, digits
    )


def _version(command: Sequence[str]) -> str:
    if shutil.which(command[0], path=TOOLCHAIN_ENV["PATH"]) is None:
        return "not found"
    try:
        out = subprocess.run(
            list(command), capture_output=True, text=True, timeout=60, env=toolchain_env()
        ).stdout
    except (OSError, subprocess.SubprocessError) as error:
        return f"unknown ({error})"
    return out.strip().splitlines()[0] if out.strip() else "unknown"


def machine() -> dict[str, Any]:
    """The machine a benchmark ran on."""
    mem_kb = 0
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    cpu = platform.processor() or "unknown"
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "cpu": cpu,
        "kernel": platform.release(),
        "python": _version([str(VENV_PYTHON), "--version"]).removeprefix("Python "),
        "node": _version(["node", "--version"]),
        "terraform": _version(["terraform", "version"]).removeprefix("Terraform "),
        "load_average": [round(v, 2) for v in os.getloadavg()],
    }


def write_json(path: Path | None, document: Mapping[str, Any]) -> None:
    """Write ``document`` to ``path`` (if given) as indented JSON."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")


def log(message: str) -> None:
    """Progress on stderr (stdout carries the markdown result)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


MIN_RUNS = 5
"""Every figure is the median of at least this many runs."""


def bench_arguments(
    doc: str | None, runs_help: str, argv: Sequence[str] | None, **extra: dict[str, Any]
) -> argparse.Namespace:
    """The common command line of a bench script: ``--runs`` (>= ``MIN_RUNS``),
    ``--json PATH`` and ``extra`` options (name -> ``add_argument`` keywords)."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=MIN_RUNS, help=f"{runs_help} (>= {MIN_RUNS})")
    for name, options in extra.items():
        parser.add_argument(f"--{name}", **options)
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    if args.runs < MIN_RUNS:
        parser.error(f"--runs must be at least {MIN_RUNS}")
    return args
