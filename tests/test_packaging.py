"""The project's wheel holds every module and template of its packages."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_ROOTS = {
    "worker_metrics": ROOT / "lambda" / "queue_depth" / "worker_metrics",
    "modules": ROOT / "modules",
    "fleetctl": ROOT / "fleetctl",
    "worker_agent": ROOT / "worker_agent",
}


def _shipped_files() -> set[str]:
    """Every file a user of the package needs: modules and templates, as wheel paths."""
    files = set()
    for name, root in PACKAGE_ROOTS.items():
        for path in root.rglob("*"):
            if "__pycache__" in path.parts or not path.is_file():
                continue
            if path.suffix == ".py" or "templates" in path.relative_to(root).parts:
                files.add(f"{name}/{path.relative_to(root).as_posix()}")
    return files


def test_the_wheel_holds_every_module_and_template(tmp_path: Path) -> None:
    # GIVEN the project's sources
    expected = _shipped_files()
    assert "fleetctl/simulation/report/charts.py" in expected
    assert "modules/templates/drain_agent.service.j2" in expected

    # WHEN a wheel is built from pyproject.toml, as `pip install .` would, in a copy of
    # the tree (setuptools reuses an in-tree build/ directory)
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__")
    for top in ("modules", "fleetctl", "worker_agent", "lambda"):
        shutil.copytree(ROOT / top, source / top, ignore=ignore)
    out = tmp_path / "wheel"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--disable-pip-version-check",
            "-w",
            str(out),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = set(archive.namelist())

    # THEN no subpackage, module or template is left out
    assert sorted(expected - shipped) == []
