"""`make lambda` is deterministic and ships exactly the package."""

from __future__ import annotations

import hashlib
import os
import shutil
import zipfile
from pathlib import Path

from tests.conftest import ROOT, build_lambda_zip


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_two_builds_give_the_same_sha256_even_after_mtimes_change(tmp_path: Path) -> None:
    # GIVEN one build of the package
    first = build_lambda_zip(tmp_path / "a.zip")
    # WHEN a copy whose files all have other modification times (as after a fresh
    # clone) is built
    clone = tmp_path / "clone"
    shutil.copytree(ROOT / "lambda", clone, ignore=shutil.ignore_patterns("__pycache__"))
    for path in clone.rglob("*"):
        os.utime(path, (1_700_000_000, 1_700_000_000))
    second = build_lambda_zip(tmp_path / "b.zip", source=clone / "queue_depth")
    # THEN the archives are byte-identical
    assert _sha256(first) == _sha256(second)


def test_zip_holds_the_handler_at_its_root_and_nothing_from_tests_or_caches(tmp_path: Path) -> None:
    archive = zipfile.ZipFile(build_lambda_zip(tmp_path / "p.zip"))
    names = archive.namelist()
    assert "lambda_function.py" in names
    assert "worker_metrics/contract.py" in names
    assert any(n.startswith("pg8000/") for n in names)
    assert names == sorted(names)
    for name in names:
        assert "__pycache__" not in name and not name.endswith(".pyc")
        assert not name.startswith("tests/")
        assert not name.endswith("RECORD")
    assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
