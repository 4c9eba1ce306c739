"""``fleetctl trace pull`` against moto's CloudWatch, and its CSV round trip."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from fleetctl import cli
from fleetctl.simulation.trace import parse_rows
from modules.settings import load_environment

REGION = "ap-northeast-2"


@pytest.fixture
def cloudwatch(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield boto3.client("cloudwatch", region_name=REGION)


def _sent(client: object, queue: str, moment: datetime, count: int) -> None:
    client.put_metric_data(  # type: ignore[attr-defined]
        Namespace="AWS/SQS",
        MetricData=[
            {
                "MetricName": "NumberOfMessagesSent",
                "Dimensions": [{"Name": "QueueName", "Value": queue}],
                "Timestamp": moment,
                "Value": float(count),
                "Unit": "Count",
            }
        ],
    )


def test_pull_writes_each_queues_messages_per_minute_as_the_trace_csv(
    cloudwatch: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN NumberOfMessagesSent datapoints of three prod queues over three minutes
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
    sent = {
        ("academy-ai-inference", 0): 12,
        ("academy-ai-inference", 2): 3,
        ("academy-video-encode", 1): 2,
        ("academy-messaging", 0): 340,
        ("academy-messaging", 1): 7,
    }
    for (queue, minute), count in sent.items():
        _sent(cloudwatch, queue, start + timedelta(minutes=minute, seconds=20), count)
    _sent(cloudwatch, "someone-elses-queue", start, 99)  # not a queue of prod
    out = tmp_path / "trace.csv"

    # WHEN the trace of that hour is pulled
    code = cli.main(
        [
            "trace", "pull", "--env", "prod", "--region", REGION,
            "--from", start.isoformat(), "--to", (start + timedelta(minutes=10)).isoformat(),
            "--out", str(out),
        ]
    )  # fmt: skip

    # THEN the CSV has exactly one row per queue and minute with its count, in order
    assert code == 0
    queues = [q.name for f in load_environment("prod").fleets for q in f.queues]
    rows = parse_rows(out.read_text(), str(out), queues)
    pulled = {(r.queue, int((r.timestamp - start).total_seconds() // 60)): r.count for r in rows}
    assert pulled == sent
    lines = out.read_text().splitlines()
    assert lines[0] == "timestamp,queue,count"
    assert lines[1] == f"{start:%Y-%m-%dT%H:%M}:00Z,academy-ai-inference,12"
    assert "wrote" in capsys.readouterr().err


def test_the_pulled_trace_replays_in_simulate(
    cloudwatch: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a pulled trace of 25 AI messages
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30)
    _sent(cloudwatch, "academy-ai-embedding", start, 25)
    out = tmp_path / "trace.csv"
    args = ["--from", start.isoformat(), "--to", (start + timedelta(minutes=5)).isoformat()]
    assert cli.main(["trace", "pull", "--env", "prod", *args, "--out", str(out)]) == 0

    # WHEN simulate replays it
    capsys.readouterr()
    code = cli.main(
        ["simulate", "--env", "prod", "--trace", str(out), "--policy", "static:1", "--json"]
    )

    # THEN the 25 jobs ran
    assert code == 0
    result = json.loads(capsys.readouterr().out)["policies"]["static:1"]["AI"]
    assert result["enqueued"] == result["completed"] == 25


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-01-02", "--to", "2026-01-01"], "--to must be after --from"),
        (["--from", "2026-01-01", "--to", "2026-06-01"], "at most 63 days"),
        (["--from", "2026-01-01", "--to", "2026-01-02", "--period", "90"], "multiple of 60"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN / WHEN a bad range or period / THEN one line, exit 2, no AWS call
    code = cli.main(["trace", "pull", "--env", "prod", *args])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert message in err
