"""The HTML report of a run: heading, the results table, definitions, and each policy's
charts per fleet (inlined as data URIs, so the page stands alone), written next to the
same charts as PNG files."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path

import jinja2

from fleetctl.simulation.prices import PRICE_DATE, PRICE_REGION
from fleetctl.simulation.report.charts import Chart
from fleetctl.simulation.results import COLUMNS, RunResult, table_rows

TEMPLATES = Path(__file__).resolve().parent / "templates"
REPORT_NAME = "simulation.html"


def write_report(result: RunResult, charts: Sequence[Chart], out_dir: Path) -> list[Path]:
    """Write ``simulation.html`` and each chart as a PNG into ``out_dir`` (created if
    missing). Returns the files written, the HTML first."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    fleets: dict[str, list[dict[str, str]]] = {}
    for chart in charts:
        path = out_dir / chart.file_name
        path.write_bytes(chart.png)
        written.append(path)
        fleets.setdefault(chart.worker_type.value, []).append(
            {
                "policy": chart.policy,
                "file": chart.file_name,
                "data": base64.b64encode(chart.png).decode("ascii"),
            }
        )
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        autoescape=True,
    )
    page = environment.get_template("simulation.html.j2").render(
        result=result,
        columns=COLUMNS,
        rows=table_rows(result),
        fleets=fleets,
        price_region=PRICE_REGION,
        price_date=PRICE_DATE,
        hours=result.horizon_seconds / 3600,
    )
    report = out_dir / REPORT_NAME
    report.write_text(page, encoding="utf-8")
    return [report, *written]
