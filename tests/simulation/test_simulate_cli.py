"""``fleetctl simulate``: the table, ``--json``, ``--trace``; bad input is one line, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fleetctl import cli


def simulate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["simulate", "--env", "prod", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_prints_one_row_per_policy_and_fleet_and_the_lower_bound(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN / WHEN the burst runs under two policies
    code, out, err = simulate(capsys, "--scenario", "burst", "--policy", "current,keda")

    # THEN exit 0, and a row for each policy x fleet plus the lower bound
    assert code == 0 and err == ""
    rows = [line.split()[:2] for line in out.splitlines() if line.split()[:1]]
    for policy in ("current", "keda"):
        for fleet in ("AI", "Video", "Messaging"):
            assert [policy, fleet] in rows
    assert out.count("lower bound") == 3
    assert "prices of" in out


def test_json_output_and_set_overrides_reach_the_simulation(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN the burst with the AI target halved from the command line
    # WHEN it runs with --json, with and without the override
    _, default, _ = simulate(capsys, "--scenario", "burst", "--policy", "keda", "--json")
    code, halved, _ = simulate(
        capsys,
        "--scenario", "burst", "--policy", "keda", "--json",
        "--set", "fleets.ai.target_messages_per_instance=10",
    )  # fmt: skip

    # THEN KEDA's queueLength followed the setting: ceil(100 / 10) instead of / 20
    assert code == 0
    peak = lambda text: json.loads(text)["policies"]["keda"]["AI"]["peak_desired"]  # noqa: E731
    assert (peak(default), peak(halved)) == (5, 10)


def test_a_trace_is_replayed(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # GIVEN a trace: 30 AI messages at 09:00 and 5 at 09:02
    trace = tmp_path / "traffic.csv"
    trace.write_text(
        "timestamp,queue,count\n"
        "2026-01-05T09:00:00Z,academy-ai-inference,30\n"
        "2026-01-05T09:02:00+00:00,academy-ai-embedding,5\n"
    )

    # WHEN it is simulated
    code, out, _ = simulate(capsys, "--trace", str(trace), "--policy", "static:2", "--json")

    # THEN all 35 messages arrived and were run
    result = json.loads(out)["policies"]["static:2"]
    assert code == 0
    assert result["AI"]["enqueued"] == result["AI"]["completed"] == 35
    assert result["Video"]["enqueued"] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scenario", "bust"], "unknown scenario 'bust' (known: burst,"),
        (["--scenario", "burst", "--policy", "current,kedda"], "unknown policy 'kedda'"),
        (
            ["--scenario", "burst", "--set", "fleets.ai.workload.boot_secs=3"],
            "config/prod.toml with --set: fleets.ai.workload.boot_secs: unknown setting",
        ),
        (
            ["--scenario", "burst", "--set", "fleets.ai.workload.p95_job_seconds=500"],
            "fleets.ai.workload.p95_job_seconds = 500: no lognormal has a p95 above 3.87 x",
        ),
        (["--scenario", "burst", "--set", "fleets.ai"], "expected SETTING=VALUE"),
        (["--scenario", "burst", "--fault", "lose:gpu:3"], "unknown worker type 'gpu'"),
        (["--scenario", "burst", "--days", "0"], "--days 0: must be more than 0"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    # GIVEN / WHEN simulate gets bad input
    code, out, err = simulate(capsys, *args)

    # THEN exit 2, nothing on stdout, and one line naming the problem
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert message in err


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("time,queue,count\n", "line 1: the header must be timestamp,queue,count"),
        (
            "timestamp,queue,count\n2026-01-05T09:00:00Z,academy-messaging,3\nnot-a-time,academy-messaging,1\n",
            "line 3: timestamp 'not-a-time' is not ISO 8601",
        ),
        (
            "timestamp,queue,count\n2026-01-05T09:00:00Z,academy-gpu,3\n",
            "line 2: queue 'academy-gpu' is not a queue of this environment",
        ),
        (
            "timestamp,queue,count\n2026-01-05T09:00:00Z,academy-messaging,-3\n",
            "line 2: count '-3' is not a whole number >= 0",
        ),
        (
            "timestamp,queue,count\n2026-01-05T09:00:00Z,academy-messaging\n",
            "line 2: expected 3 fields",
        ),
    ],
)
def test_a_malformed_trace_row_names_its_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, body: str, message: str
) -> None:
    # GIVEN a trace with one bad line
    trace = tmp_path / "bad.csv"
    trace.write_text(body)

    # WHEN it is simulated
    code, _, err = simulate(capsys, "--trace", str(trace))

    # THEN exit 2 and one line naming the file and the line
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert f"{trace} {message}" in err


def test_out_writes_the_html_report_and_a_png_per_policy_and_fleet(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # GIVEN / WHEN the burst runs under two policies with --out
    code, _out, err = simulate(
        capsys, "--scenario", "burst", "--policy", "current,static:2", "--out", str(tmp_path)
    )

    # THEN the HTML holds the table and the six charts, written as PNG files too
    assert code == 0
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pngs == sorted(
        f"{policy}-{fleet}.png"
        for policy in ("current", "static-2")
        for fleet in ("ai", "video", "messaging")
    )
    assert all((tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for name in pngs)
    page = (tmp_path / "simulation.html").read_text()
    assert page.count("data:image/png;base64,") == 6
    assert "<td>static:2</td>" in page and "lower bound" in page
    assert "simulation.html and 6 PNG charts" in err


def test_a_long_run_shows_progress_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN / WHEN a two-day run (stderr is not a terminal here: a line per quarter)
    code, out, err = simulate(
        capsys, "--scenario", "trickle", "--days", "2", "--policy", "static:1"
    )

    # THEN the bar reaches 100 % on stderr and the table stays on stdout
    assert code == 0
    assert "simulating static:1" in err and "100%" in err
    assert "simulating" not in out
