"""Where the Lambda's code publishes metrics and calls AWS, found by reading it.

The report must say *where* the metrics are published (the seed quoted file and
line ranges by hand, which rot). This module parses the ``worker_metrics``
sources and the handler with ``ast`` and finds:

* every call of a boto3 client method (``cloudwatch.put_metric_data(...)``,
  ``clients.autoscaling.set_desired_capacity(...)``, ...), with the IAM action
  it needs; the receiver's name says the service (``sqs``, ``autoscaling``,
  ``cloudwatch``, ``secrets_client`` -> ``secretsmanager``) and botocore's own
  service model confirms the method is an operation of it;
* every function that builds a ``MetricData`` item (a dict literal with the
  key ``"MetricName"``);
* the callers of the functions that call ``put_metric_data``.

Line numbers are whatever the file says today; nothing here is hard-coded.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import botocore.session
from botocore import xform_name

SERVICES = ("autoscaling", "cloudwatch", "sqs", "secretsmanager", "lambda", "events", "logs")
"""Services a receiver name may refer to (the IAM prefix is the service name for all)."""

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Location:
    """A place in the source: path (relative to the project when inside it), function, line."""

    path: str
    function: str
    line: int

    def show(self) -> str:
        return f"{self.path}:{self.line} ({self.function})"


@dataclass(frozen=True)
class AwsCall:
    """One call of a boto3 client method. ``action`` is the IAM action, e.g.
    ``autoscaling:SetDesiredCapacity``; ``module`` the Python module it is in."""

    action: str
    method: str
    module: str
    location: Location


@dataclass(frozen=True)
class DatumBuilder:
    """A function that builds ``MetricData`` items; ``metric`` is the source text
    of the ``"MetricName"`` value (a constant's or a parameter's name)."""

    metric: str
    module: str
    location: Location


@dataclass(frozen=True)
class CodeMap:
    """Everything found in one package (see the module docstring)."""

    calls: tuple[AwsCall, ...]
    datum_builders: tuple[DatumBuilder, ...]
    publish_callers: tuple[Location, ...]

    def calls_of(self, action: str) -> list[AwsCall]:
        """The calls needing ``action``, in file and line order."""
        return [c for c in self.calls if c.action == action]

    def actions(self, exclude_modules: frozenset[str] = frozenset()) -> set[str]:
        """The IAM actions the code needs, leaving out calls in ``exclude_modules``."""
        return {c.action for c in self.calls if c.module not in exclude_modules}


@cache
def _operations(service: str) -> dict[str, str]:
    """boto3 method name -> API operation name, from botocore's bundled model."""
    model = botocore.session.get_session().get_service_model(service)
    return {xform_name(name): name for name in model.operation_names}


def _service_of(receiver: ast.expr) -> str | None:
    name = receiver.attr if isinstance(receiver, ast.Attribute) else getattr(receiver, "id", None)
    if not isinstance(name, str):
        return None
    token = name.lower().removesuffix("_client").removesuffix("client").strip("_")
    if not token:
        return None
    return next((s for s in SERVICES if s.startswith(token) or token == s), None)


def _display(path: Path) -> str:
    return str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else str(path)


class _Visitor(ast.NodeVisitor):
    def __init__(self, path: Path, module: str) -> None:
        self.path = path
        self.module = module
        self.scope: list[str] = []
        self.calls: list[AwsCall] = []
        self.builders: list[DatumBuilder] = []
        self.called_names: list[tuple[str, Location]] = []

    def _here(self, node: ast.AST) -> Location:
        return Location(
            _display(self.path), ".".join(self.scope) or "<module>", getattr(node, "lineno", 0)
        )

    def _scoped(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    visit_FunctionDef = _scoped
    visit_AsyncFunctionDef = _scoped
    visit_ClassDef = _scoped

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute):
            service = _service_of(func.value)
            if service is not None and func.attr in _operations(service):
                action = f"{service}:{_operations(service)[func.attr]}"
                self.calls.append(AwsCall(action, func.attr, self.module, self._here(node)))
            self.called_names.append((func.attr, self._here(node)))
        elif isinstance(func, ast.Name):
            self.called_names.append((func.id, self._here(node)))
        self.generic_visit(node)

    def visit_Dict(self, node: ast.Dict) -> None:
        for key, value in zip(node.keys, node.values, strict=True):
            if isinstance(key, ast.Constant) and key.value == "MetricName" and self.scope:
                self.builders.append(
                    DatumBuilder(ast.unparse(value), self.module, self._here(node))
                )
        self.generic_visit(node)


def _sources(package_dir: Path, extra_files: tuple[Path, ...]) -> Iterator[tuple[Path, str]]:
    for path in sorted(package_dir.glob("*.py")):
        yield (
            path,
            f"{package_dir.name}.{path.stem}" if path.stem != "__init__" else package_dir.name,
        )
    for path in extra_files:
        yield path, path.stem


def scan(package_dir: Path, extra_files: tuple[Path, ...] = ()) -> CodeMap:
    """Scan every ``*.py`` of ``package_dir`` (not recursive) and ``extra_files``.

    Raises ``SyntaxError`` for a file that does not parse (the Lambda would not
    import either) and ``OSError`` for one that cannot be read.
    """
    calls: list[AwsCall] = []
    builders: list[DatumBuilder] = []
    called: list[tuple[str, Location]] = []
    for path, module in _sources(package_dir, extra_files):
        visitor = _Visitor(path, module)
        visitor.visit(ast.parse(path.read_text(), filename=str(path)))
        calls += visitor.calls
        builders += visitor.builders
        called += visitor.called_names
    publishers = {
        c.location.function.rsplit(".", 1)[-1] for c in calls if c.method == "put_metric_data"
    }
    callers = tuple(loc for name, loc in called if name in publishers)
    return CodeMap(tuple(calls), tuple(builders), callers)
