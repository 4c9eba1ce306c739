"""Shared fixtures. Expensive ones (a cdktf synth costs one jsii runtime) are
session-scoped, so each test process pays for them once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache"

# The same project-local toolchain environment the Makefile exports (it overrides
# the machine's TF_CLI_CONFIG_FILE, which points at a missing file), so that a
# bare `pytest` behaves like `make test`.
for key, value in {
    "CHECKPOINT_DISABLE": "1",
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    "JSII_RUNTIME_PACKAGE_CACHE_ROOT": str(CACHE / "jsii"),
    "TF_PLUGIN_CACHE_DIR": str(CACHE / "terraform-plugins"),
    "TF_CLI_CONFIG_FILE": str(CACHE / "terraformrc"),
}.items():
    os.environ[key] = value


@dataclass(frozen=True)
class Synthesized:
    """The output of one real ``python main.py`` run."""

    outdir: Path

    def stack_dir(self, stack: str) -> Path:
        return self.outdir / "stacks" / stack

    def text(self, stack: str) -> str:
        return (self.stack_dir(stack) / "cdk.tf.json").read_text()

    def json(self, stack: str) -> dict[str, Any]:
        return json.loads(self.text(stack))

    def stacks(self) -> list[str]:
        return sorted(p.name for p in (self.outdir / "stacks").iterdir())


def build_lambda_zip(out: Path, source: Path | None = None) -> Path:
    """Build the Lambda zip with the project's own script (as `make lambda` does)."""
    extra = ["--source", str(source)] if source else []
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_lambda.py"), "--out", str(out), *extra],
        check=True,
        capture_output=True,
        text=True,
    )
    return out


def run_synth(outdir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``main.py`` as `make synth` does, into ``outdir``."""
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py")],
        cwd=ROOT,
        env={**os.environ, "CDKTF_OUTDIR": str(outdir), **env},
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="session")
def lambda_zip() -> Path:
    """dist/queue_depth_lambda.zip, built if `make lambda` has not run."""
    path = ROOT / "dist" / "queue_depth_lambda.zip"
    if not path.is_file():
        build_lambda_zip(path)
    return path


@pytest.fixture(scope="session")
def synthesized(
    tmp_path_factory: pytest.TempPathFactory, lambda_zip: Path
) -> Iterator[Synthesized]:
    """Every environment, synthesized once per test session by the real app."""
    outdir = tmp_path_factory.mktemp("cdktf.out")
    result = run_synth(outdir)
    assert result.returncode == 0, f"synth failed:\n{result.stderr[-4000:]}"
    yield Synthesized(outdir)
