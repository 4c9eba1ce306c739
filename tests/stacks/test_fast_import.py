"""The fast bindings import (``modules/_fast_bindings.py``): in use, and equivalent.

* The real ``modules.aws`` must load through the fast path, and only the
  submodules it imports: a bindings upgrade that breaks the fast path fails
  here, not as a silent 10 s slowdown at deploy.
* Every environment synthesized with the fast path and with the stock import
  (``WORKER_STOCK_IMPORT=1``), in separate processes, gives the same bytes.
* The fallback itself, on a throwaway package shaped like the bindings.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modules import _fast_bindings
from modules._fast_bindings import (
    PACKAGE,
    STOCK_IMPORT_ENV,
    BindingsFallbackWarning,
    import_bindings,
    submodules_imported_by,
)
from modules.settings import available_environments
from tests.conftest import ROOT

# Runs main.py as `make synth` does, then reports how that very process
# imported the bindings, so the comparison below cannot silently compare the
# fast path with itself.
_SYNTH_AND_REPORT = textwrap.dedent(
    """
    import json, runpy, sys, warnings
    from modules._fast_bindings import BindingsFallbackWarning
    warnings.simplefilter("error", BindingsFallbackWarning)
    try:
        runpy.run_path("main.py", run_name="__main__")
        code = 0
    except SystemExit as exit:
        code = exit.code
    from modules import _fast_bindings
    status = _fast_bindings.installed()
    package = _fast_bindings.PACKAGE
    with open(sys.argv[1], "w") as report:
        json.dump({
            "exit_code": code,
            "mode": status.mode if status else None,
            "reason": status.reason if status else None,
            "package_init_ran": hasattr(sys.modules[package], "accessanalyzer_analyzer"),
            "loaded": sorted(
                name.split(".")[1] for name in sys.modules
                if name.startswith(package + ".") and name.count(".") == 1
            ),
        }, report)
    """
)


def _synth(outdir: Path, report: Path, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _SYNTH_AND_REPORT, str(report)],
        cwd=ROOT,
        env={**os.environ, "CDKTF_OUTDIR": str(outdir), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _files(outdir: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(outdir)): path.read_bytes()
        for path in sorted(outdir.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def fast_and_stock(
    tmp_path_factory: pytest.TempPathFactory, lambda_zip: Path
) -> tuple[Path, dict[str, Any], Path, dict[str, Any]]:
    """Every environment synthesized twice, concurrently: fast path and stock import."""
    base = tmp_path_factory.mktemp("fast-vs-stock")
    runs = {
        "fast": _synth(base / "fast", base / "fast.json", **{STOCK_IMPORT_ENV: ""}),
        "stock": _synth(base / "stock", base / "stock.json", **{STOCK_IMPORT_ENV: "1"}),
    }
    for mode, process in runs.items():
        output, _ = process.communicate(timeout=900)
        assert process.returncode == 0, f"{mode} synth failed:\n{output[-4000:]}"
    reports = {mode: json.loads((base / f"{mode}.json").read_text()) for mode in runs}
    return base / "fast", reports["fast"], base / "stock", reports["stock"]


@pytest.mark.synth
def test_synth_uses_the_fast_path_and_loads_only_our_bindings(
    fast_and_stock: tuple[Path, dict[str, Any], Path, dict[str, Any]],
) -> None:
    # GIVEN main.py run as `make synth` runs it, with fallback warnings as errors
    _, fast, _, _ = fast_and_stock
    # THEN it took the fast path: the package __init__ did not run, and exactly
    # the submodules modules/aws.py imports (plus _jsii) were loaded
    assert fast["exit_code"] == 0
    assert fast["mode"] == "fast", (
        f"modules.aws did not use the fast bindings import ({fast['reason']}); "
        "update modules/_fast_bindings.py for this bindings version"
    )
    assert fast["package_init_ran"] is False
    expected = sorted({"_jsii", *submodules_imported_by(_fast_bindings.AWS_MODULE)})
    assert fast["loaded"] == expected


@pytest.mark.synth
def test_stock_import_env_runs_the_package_init(
    fast_and_stock: tuple[Path, dict[str, Any], Path, dict[str, Any]],
) -> None:
    # GIVEN WORKER_STOCK_IMPORT=1
    _, _, _, stock = fast_and_stock
    # THEN the comparison really is against the stock import: every submodule loaded
    assert stock["exit_code"] == 0
    assert stock["mode"] == "stock"
    assert stock["reason"] == f"{STOCK_IMPORT_ENV}=1"
    assert stock["package_init_ran"] is True
    assert len(stock["loaded"]) > 2000


@pytest.mark.synth
def test_fast_and_stock_synth_are_byte_identical(
    fast_and_stock: tuple[Path, dict[str, Any], Path, dict[str, Any]],
) -> None:
    # GIVEN every environment synthesized by each import path
    fast_dir, _, stock_dir, _ = fast_and_stock
    fast, stock = _files(fast_dir), _files(stock_dir)
    # THEN the same files exist: manifest, every stack's cdk.tf.json, the assets
    expected_stacks = {f"stacks/workers-{env}/cdk.tf.json" for env in available_environments()}
    assert expected_stacks <= set(fast)
    assert any(name.startswith("stacks/workers-local/assets/") for name in fast)
    assert "manifest.json" in fast
    assert sorted(fast) == sorted(stock)
    # AND every file has the same bytes
    different = [name for name in fast if fast[name] != stock[name]]
    assert different == [], f"fast and stock synth differ in {different}"


# ---------------------------------------------------------------- fallback, on a fake package

_FAKE_FILES = {
    "__init__.py": "from ._jsii import *\nHELPER = 'from the package __init__'\nINIT_RAN = True\n",
    "_jsii/__init__.py": "import fake_bindings_counter\nfake_bindings_counter.jsii_loads += 1\n",
    "plain/__init__.py": "from .._jsii import *\nVALUE = 'plain'\n",
    # A submodule that needs something only the package __init__ defines: the
    # kind of shape change a bindings release could bring.
    "needs_init/__init__.py": "from .._jsii import *\nfrom .. import HELPER\n",
}


@pytest.fixture
def fake_package(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A bindings-shaped package under a unique name, removed from sys.modules afterwards."""
    name = f"fake_bindings_{request.node.name.replace('[', '_').replace(']', '_')}"
    for relative, text in _FAKE_FILES.items():
        path = tmp_path / name / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (tmp_path / "fake_bindings_counter.py").write_text("jsii_loads = 0\n")
    sys.path.insert(0, str(tmp_path))
    try:
        yield name
    finally:
        sys.path.remove(str(tmp_path))
        for module in [
            m for m in sys.modules if m.split(".")[0] in (name, "fake_bindings_counter")
        ]:
            del sys.modules[module]


def test_fast_import_skips_the_package_init(fake_package: str) -> None:
    # WHEN a submodule that needs only _jsii is imported the fast way
    with warnings.catch_warnings():
        warnings.simplefilter("error", BindingsFallbackWarning)
        result = import_bindings(fake_package, ["plain"])
    # THEN the package __init__ did not run, but _jsii (the assembly) loaded once
    assert result.mode == "fast" and result.reason == ""
    assert not hasattr(sys.modules[fake_package], "INIT_RAN")
    assert sys.modules[f"{fake_package}.plain"].VALUE == "plain"
    assert sys.modules["fake_bindings_counter"].jsii_loads == 1


def test_a_changed_package_shape_falls_back_with_a_warning(fake_package: str) -> None:
    # WHEN a submodule depends on the package __init__
    with pytest.warns(BindingsFallbackWarning, match=r"fast import failed: ImportError"):
        result = import_bindings(fake_package, ["plain", "needs_init"])
    # THEN the stock import ran, everything works, and the assembly was not loaded twice
    assert result.mode == "stock"
    assert "HELPER" in result.reason
    assert sys.modules[fake_package].INIT_RAN is True
    assert sys.modules[f"{fake_package}.needs_init"].HELPER == "from the package __init__"
    assert sys.modules["fake_bindings_counter"].jsii_loads == 1


def test_a_missing_submodule_is_named_and_the_stock_import_raises(fake_package: str) -> None:
    # WHEN aws.py imports a submodule the package no longer has
    with (
        pytest.warns(BindingsFallbackWarning, match=r"has no submodule\(s\) gone_service"),
        pytest.raises(ModuleNotFoundError, match="gone_service"),
    ):
        import_bindings(fake_package, ["plain", "gone_service"])
    # THEN the warning names it, and the real error is not swallowed


def test_force_stock_imports_the_package_without_a_warning(fake_package: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", BindingsFallbackWarning)
        result = import_bindings(fake_package, ["plain"], force_stock=True)
    assert result.mode == "stock" and result.reason == f"{STOCK_IMPORT_ENV}=1"
    assert sys.modules[fake_package].INIT_RAN is True


def test_a_package_already_imported_stock_is_reported(fake_package: str) -> None:
    # GIVEN something imported the package the stock way first
    __import__(fake_package)
    # THEN the fast path does not pretend, and says so
    with pytest.warns(BindingsFallbackWarning, match="imported the stock way before"):
        result = import_bindings(fake_package, ["plain"])
    assert result.mode == "stock"


def test_the_fast_path_list_is_exactly_the_imports_of_aws_py() -> None:
    # GIVEN modules/aws.py, the one place bindings are imported
    submodules = submodules_imported_by(_fast_bindings.AWS_MODULE)
    source = _fast_bindings.AWS_MODULE.read_text()
    # THEN every `from cdktf_cdktf_provider_aws.<x> import` is in the list, and only those
    statements = re.findall(rf"^from {PACKAGE}\.(\w+) import", source, flags=re.MULTILINE)
    assert sorted(set(statements)) == list(submodules)
    assert len(statements) == len(submodules)
    assert {"provider", "sqs_queue", "autoscaling_group", "autoscaling_policy"} <= set(submodules)
    assert list(submodules) == sorted(set(submodules))
