"""Rendering: the report as Markdown or HTML, and its verification commands,
with the jinja2 templates in ``fleetctl/report/templates``."""

from __future__ import annotations

from pathlib import Path

import jinja2

from fleetctl.report.model import DriftKind, Report

TEMPLATES = Path(__file__).resolve().parent / "templates"
FORMATS = ("md", "html")


def _markdown_cell(value: object) -> str:
    """``value`` safe inside a Markdown table cell (no pipe, no line break)."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def _environment(autoescape: bool) -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        autoescape=autoescape,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["cell"] = _markdown_cell
    return environment


def commands(template: str, report: Report) -> str:
    """The verification commands of ``report`` from ``template`` (``commands.sh.j2``,
    ``commands.ps1.j2``), ending in one newline."""
    return _environment(autoescape=False).get_template(template).render(r=report).rstrip() + "\n"


def render(report: Report, fmt: str = "md") -> str:
    """The report as Markdown (``md``) or a standalone HTML page (``html``).

    Raises ``ValueError`` for another format.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}: expected one of {', '.join(FORMATS)}")
    template = _environment(autoescape=fmt == "html").get_template(f"report.{fmt}.j2")
    return template.render(r=report, kinds=list(DriftKind))
