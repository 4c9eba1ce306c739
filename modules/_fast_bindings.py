"""Fast import of the AWS provider bindings: only the submodules ``modules/aws.py`` uses.

Why: ``import cdktf_cdktf_provider_aws.<anything>`` first runs the package
``__init__``, which imports all ~2,135 service submodules (about 10 s and
several hundred MB of Python objects, NOTES §1). Each submodule only needs the
package's ``_jsii`` module (which loads the jsii assembly) and ``cdktf``/
``constructs``; nothing else from the package ``__init__``.

How (``install()``, called by ``modules/aws.py`` before its imports):

1. ``importlib.util.find_spec`` locates the package without executing it.
2. The package must still have the expected shape: ``_jsii/`` and every
   submodule that ``modules/aws.py`` imports (read from its ``from
   cdktf_cdktf_provider_aws.<submodule> import ...`` statements, so that list
   has one source) exist as directories with an ``__init__.py``.
3. A bare module object is made from that spec (right ``__path__``,
   ``__spec__``, ``__file__``, ``__loader__``; its code is not run) and put in
   ``sys.modules``, so ``import cdktf_cdktf_provider_aws.x`` finds the parent
   already imported and loads only ``x``.
4. ``cdktf_cdktf_provider_aws._jsii`` is imported explicitly (it loads the
   assembly, as the stock ``__init__`` would), then each submodule.

Fallback: if any step fails (the bindings changed shape), the partial import is
removed from ``sys.modules``, a ``BindingsFallbackWarning`` says why, and the
stock import runs. Synth still works, only slower;
``tests/stacks/test_fast_import.py`` fails when the fast path is not the one
in use, so a bindings upgrade that breaks it fails in CI, not at deploy.

``WORKER_STOCK_IMPORT=1`` forces the stock import (the equivalence test and
the benchmarks compare both). No cdktf import here: this module is cheap until
``install()`` runs.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

PACKAGE = "cdktf_cdktf_provider_aws"
"""The bindings package loaded this way."""

JSII_SUBMODULE = "_jsii"
"""The package's submodule that loads the jsii assembly; every binding imports it."""

STOCK_IMPORT_ENV = "WORKER_STOCK_IMPORT"
"""Set to ``1`` to force the stock import (runs the package ``__init__``)."""

FAST_MARKER = "__worker_fast_bindings__"
"""Attribute set on the bare package module, so a later ``install()`` recognises it."""

AWS_MODULE = Path(__file__).resolve().with_name("aws.py")
"""The one module whose ``from <PACKAGE>.<submodule> import`` statements list what we load."""


class BindingsFallbackWarning(RuntimeWarning):
    """The fast import failed and the stock import ran instead (the message says why)."""


@dataclass(frozen=True)
class BindingsImport:
    """How the bindings were imported.

    ``mode``: ``"fast"`` (only ``submodules`` loaded) or ``"stock"`` (the package
    ``__init__`` ran). ``reason``: why the stock import ran; empty when fast.
    """

    package: str
    mode: Literal["fast", "stock"]
    submodules: tuple[str, ...]
    reason: str = ""


_installed: BindingsImport | None = None


def submodules_imported_by(source: Path, package: str = PACKAGE) -> tuple[str, ...]:
    """The ``<package>.<submodule>`` names that ``source`` imports, sorted and unique.

    Only ``from <package>.<submodule> import ...`` statements count (the form
    ``modules/aws.py`` uses). Raises ``ValueError`` if it imports none.
    """
    tree = ast.parse(source.read_text(), filename=str(source))
    prefix = f"{package}."
    names = {
        node.module.removeprefix(prefix).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and node.level == 0
        and node.module is not None
        and node.module.startswith(prefix)
    }
    if not names:
        raise ValueError(f"{source}: no 'from {package}.<submodule> import ...' statements")
    return tuple(sorted(names))


def missing_submodules(locations: Sequence[str], names: Sequence[str]) -> list[str]:
    """Those of ``names`` that are no package (``<name>/__init__.py``) in any of ``locations``."""
    return [
        name
        for name in names
        if not any((Path(location) / name / "__init__.py").is_file() for location in locations)
    ]


def _import_fast(package: str, submodules: Sequence[str]) -> None:
    """Steps 1-4 of the module docstring. Raises ``ImportError`` naming what is off."""
    spec = importlib.util.find_spec(package)
    if spec is None:
        raise ImportError(f"{package} is not installed")
    if spec.submodule_search_locations is None:
        raise ImportError(f"{package} is a module, not a package ({spec.origin})")
    locations = list(spec.submodule_search_locations)
    missing = missing_submodules(locations, [JSII_SUBMODULE, *submodules])
    if missing:
        raise ImportError(f"{package} has no submodule(s) {', '.join(missing)} in {locations}")
    if not getattr(sys.modules.get(package), FAST_MARKER, False):
        bare = importlib.util.module_from_spec(spec)  # makes the module; does not run __init__.py
        setattr(bare, FAST_MARKER, True)
        sys.modules[package] = bare
    importlib.import_module(f"{package}.{JSII_SUBMODULE}")
    for name in submodules:
        importlib.import_module(f"{package}.{name}")


def _forget_partial_import(package: str) -> None:
    """Drop the bare package and its submodules from ``sys.modules``, except ``_jsii``:
    the assembly it loaded stays loaded, and the stock ``__init__`` reuses it."""
    keep = f"{package}.{JSII_SUBMODULE}"
    for name in [n for n in sys.modules if n == package or n.startswith(f"{package}.")]:
        if name != keep:
            del sys.modules[name]


def _import_stock(package: str, submodules: Sequence[str], reason: str) -> BindingsImport:
    importlib.import_module(package)
    for name in submodules:
        importlib.import_module(f"{package}.{name}")
    return BindingsImport(package, "stock", tuple(submodules), reason)


def import_bindings(
    package: str, submodules: Sequence[str], *, force_stock: bool = False
) -> BindingsImport:
    """Import ``submodules`` of ``package`` without running the package ``__init__``.

    Falls back to the stock import, with a ``BindingsFallbackWarning``, when the
    fast import fails or the package was already imported the stock way. With
    ``force_stock`` it imports the stock way directly, without a warning.
    Errors of the stock import itself propagate.
    """
    submodules = tuple(submodules)
    if force_stock:
        return _import_stock(package, submodules, f"{STOCK_IMPORT_ENV}=1")
    loaded = sys.modules.get(package)
    if loaded is not None and not getattr(loaded, FAST_MARKER, False):
        reason = f"{package} was imported the stock way before modules.aws"
        warnings.warn(
            f"AWS bindings: {reason}; synth pays ~10 s", BindingsFallbackWarning, stacklevel=2
        )
        return _import_stock(package, submodules, reason)
    try:
        _import_fast(package, submodules)
    # Broad on purpose: whatever a changed package layout raises here, the stock
    # import below either works (and the warning says why the fast one did not)
    # or raises the real error itself.
    except Exception as err:
        _forget_partial_import(package)
        reason = f"fast import failed: {type(err).__name__}: {err}"
        warnings.warn(
            f"AWS bindings: {reason}; falling back to the stock import (~10 s slower). "
            f"Update modules/_fast_bindings.py for this bindings version.",
            BindingsFallbackWarning,
            stacklevel=2,
        )
        return _import_stock(package, submodules, reason)
    return BindingsImport(package, "fast", submodules)


def install() -> BindingsImport:
    """Import the bindings ``modules/aws.py`` uses, fast unless ``WORKER_STOCK_IMPORT=1``.

    Idempotent: later calls return the first result (see ``installed()``).
    """
    global _installed
    if _installed is None:
        _installed = import_bindings(
            PACKAGE,
            submodules_imported_by(AWS_MODULE),
            force_stock=os.environ.get(STOCK_IMPORT_ENV, "") == "1",
        )
    return _installed


def installed() -> BindingsImport | None:
    """The result of ``install()`` in this process, or ``None`` before it ran."""
    return _installed
