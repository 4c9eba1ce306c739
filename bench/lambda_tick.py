"""Benchmark of one publisher tick against a moto server on 127.0.0.1.

Starts ``moto.server`` in a child process on a free loopback port (its CPU then
does not compete with the tick's threads for the GIL), creates the three fleets
with 3 queues and then with 100 queues, and runs the real ``run_tick`` with the
real clients (``worker_metrics.clients.build_clients``). It reports:

* API calls per tick by kind (counted by the tick, and HTTP requests seen by
  botocore, which include retries);
* median / min / max tick time over ``--runs`` timed ticks (after one warm-up
  tick that scales Video out), and the 100-queue / 3-queue ratio (goal <= 2);
* PutMetricData calls for 1000 and for 1001 datums (goal 1 and 2);
* ASG write calls on an unchanged tick (goal 0);
* cold start: importing ``lambda_function`` in a fresh interpreter, and the
  first invocation's configuration + client set-up (median of 5 each).

Two backends per size. "moto": every request goes to the moto server, whose
own CPU per request (several ms, one process) then dominates and grows with the
queue count whatever the client does. "replay": one tick's moto responses are
recorded, and the timed ticks get them back from memory after a modelled
network round trip (``--rtt-ms``, a sleep in botocore's ``before-send`` hook),
which is what the tick waits on in AWS; this isolates the tick's own cost and
its concurrency from the emulator's.

Usage: python bench/lambda_tick.py [--runs 7] [--rtt-ms 0 20] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "lambda" / "queue_depth"))

import boto3  # noqa: E402
import urllib3  # noqa: E402
from botocore.awsrequest import AWSResponse  # noqa: E402

from fleetctl.local_aws import LocalAws  # noqa: E402
from worker_metrics.clients import build_clients  # noqa: E402
from worker_metrics.config import PublisherConfig  # noqa: E402
from worker_metrics.contract import WorkerType, lambda_environment  # noqa: E402
from worker_metrics.publish import datum  # noqa: E402
from worker_metrics.tick import AwsClients, MetricSource, run_tick  # noqa: E402

REGION = "ap-northeast-2"
AMI = "ami-12c6146b"
SERVER_START_TIMEOUT_S = 60
COLD_START_RUNS = 5


@contextmanager
def moto_server() -> Iterator[str]:
    """The project's local AWS (``fleetctl.local_aws``) on 127.0.0.1; yields its endpoint."""
    # ASG instances here need no AMI catalogue (it costs about a second per region).
    os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"
    with LocalAws.start(region=REGION, startup_timeout=SERVER_START_TIMEOUT_S) as aws:
        yield aws.endpoint


def reset(endpoint: str) -> None:
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).close()


def create_fleets(endpoint: str, queue_count: int) -> dict[str, str]:
    """Queues spread over the three types, one ASG each; the Lambda environment."""
    session = boto3.Session(region_name=REGION)
    sqs = session.client("sqs", endpoint_url=endpoint)
    ec2 = session.client("ec2", endpoint_url=endpoint)
    autoscaling = session.client("autoscaling", endpoint_url=endpoint)
    types = list(WorkerType)
    urls: dict[WorkerType, list[str]] = {t: [] for t in types}
    for index in range(queue_count):
        worker_type = types[index % len(types)]
        url = sqs.create_queue(QueueName=f"bench-{worker_type.value.lower()}-{index}")["QueueUrl"]
        urls[worker_type].append(url)
        sqs.send_message(QueueUrl=url, MessageBody="job")  # every queue has backlog
    asgs = {}
    for worker_type in types:
        name = f"bench-{worker_type.value.lower()}"
        ec2.create_launch_template(
            LaunchTemplateName=f"{name}-lt",
            LaunchTemplateData={"ImageId": AMI, "InstanceType": "t3.micro"},
        )
        autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=name,
            LaunchTemplate={"LaunchTemplateName": f"{name}-lt", "Version": "$Latest"},
            MinSize=0,
            MaxSize=100,
            DesiredCapacity=0,
            AvailabilityZones=[f"{REGION}a"],
        )
        asgs[worker_type] = name
    return lambda_environment(queue_urls=urls, asg_names=asgs)


class _Body:
    """A recorded response body, in the shape botocore reads (``raw.stream()``)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_kwargs: Any) -> Iterator[bytes]:
        yield self._data


class Transport:
    """botocore ``before-send`` hook: counts HTTP requests; can record and replay.

    ``record`` sends requests itself (urllib3) and keeps each response, keyed
    by operation (and by body for GetQueueAttributes: one response per queue);
    ``replay`` answers from those after sleeping ``rtt_s``.
    """

    def __init__(self, rtt_s: float) -> None:
        self.rtt_s = rtt_s
        self.mode = "live"
        self.http: Counter[str] = Counter()
        self.recorded: dict[tuple[str, bytes], tuple[int, dict[str, str], bytes]] = {}
        self._pool = urllib3.PoolManager(maxsize=64)

    @staticmethod
    def _key(kind: str, request: Any) -> tuple[str, bytes]:
        body = request.body or b""
        body = body.encode() if isinstance(body, str) else bytes(body)
        return (kind, body if kind == "sqs.GetQueueAttributes" else b"")

    def __call__(self, event_name: str, request: Any, **_kwargs: Any) -> AWSResponse | None:
        _, service, operation = event_name.split(".", 2)
        kind = f"{service}.{operation}"
        self.http[kind] += 1
        if self.mode == "live":
            return None
        if self.mode == "record":
            answer = self._pool.request(
                request.method,
                request.url,
                body=request.body,
                headers=dict(request.headers),
                retries=False,
            )
            recorded = (answer.status, dict(answer.headers), answer.data)
            self.recorded[self._key(kind, request)] = recorded
        else:
            time.sleep(self.rtt_s)
            recorded = self.recorded[self._key(kind, request)]
        status, headers, data = recorded
        return AWSResponse(request.url, status, headers, _Body(data))

    def attach(self, clients: AwsClients) -> None:
        for client in (clients.sqs, clients.autoscaling, clients.cloudwatch):
            client.meta.events.register("before-send", self)


def padding_source(count: int) -> MetricSource:
    """An extra source of ``count`` datums, to fill a tick to an exact datum count."""

    def collect(at: datetime) -> list[dict[str, Any]]:
        return [datum("BenchPadding", WorkerType.AI, i, at) for i in range(count)]

    return MetricSource("bench_padding", WorkerType.AI, collect)


def timed_ticks(
    config: PublisherConfig, clients: AwsClients, start: datetime, runs: int
) -> tuple[list[float], list[float], dict[str, float]]:
    """Run ``runs`` ticks on consecutive minutes.

    Returns wall times (ms), CPU times of this process (ms, all threads) and
    API calls per tick.
    """
    times_ms: list[float] = []
    cpu_ms: list[float] = []
    calls: Counter[str] = Counter()
    for run in range(1, runs + 1):
        begin, begin_cpu = time.perf_counter(), time.process_time()
        result = run_tick(config, clients, start + timedelta(minutes=run))
        times_ms.append((time.perf_counter() - begin) * 1000)
        cpu_ms.append((time.process_time() - begin_cpu) * 1000)
        calls.update(result.api_calls)
        if not result.ok:
            raise RuntimeError(f"tick failed: {[e.log_record() for e in result.errors]}")
    return times_ms, cpu_ms, {kind: count / runs for kind, count in sorted(calls.items())}


def summary(times_ms: list[float]) -> dict[str, float]:
    return {"median": statistics.median(times_ms), "min": min(times_ms), "max": max(times_ms)}


def scenario(endpoint: str, queue_count: int, runs: int, rtt_ms: float) -> list[dict[str, Any]]:
    """Both backends for one queue count: a row for moto, a row for replay."""
    reset(endpoint)
    environment = create_fleets(endpoint, queue_count)
    config = PublisherConfig.from_env(environment)
    clients = build_clients(config, boto3.Session(region_name=REGION))
    transport = Transport(rtt_ms / 1000)
    transport.attach(clients)
    minute = datetime.now(UTC).replace(second=0, microsecond=0)

    warm_up = run_tick(config, clients, minute)  # scales Video out of zero
    transport.http.clear()
    live_ms, live_cpu_ms, per_tick = timed_ticks(config, clients, minute, runs)
    http_per_tick = {k: v / runs for k, v in sorted(transport.http.items())}
    asg_writes = sum(
        count
        for kind, count in per_tick.items()
        if kind.startswith("autoscaling.") and kind != "autoscaling.DescribeAutoScalingGroups"
    )
    datums = run_tick(config, clients, minute + timedelta(minutes=runs + 1)).datums_published
    put_calls = {}
    for total in (1000, 1001):
        result = run_tick(
            config,
            clients,
            minute + timedelta(minutes=runs + total - 998),
            [padding_source(total - datums)],
        )
        put_calls[str(total)] = result.api_calls["cloudwatch.PutMetricData"]
        if result.datums_published != total:
            raise RuntimeError(
                f"expected {total} datums, published {result.datums_published}: "
                f"{[e.log_record() for e in result.errors][:1]}"
            )

    transport.mode = "record"
    run_tick(config, clients, minute + timedelta(minutes=runs + 10))
    transport.mode = "replay"
    replay_ms, replay_cpu_ms, _ = timed_ticks(
        config, clients, minute + timedelta(minutes=runs + 10), runs
    )

    common = {
        "queues": queue_count,
        "runs": runs,
        "api_calls_per_tick": per_tick,
        "http_requests_per_tick": http_per_tick,
        "asg_write_calls_unchanged_tick": asg_writes,
        "warm_up_video_action": warm_up.video.decision.action.value
        if warm_up.video.decision
        else "skipped",
        "datums_per_tick": datums,
        "put_metric_data_calls_for_datums": put_calls,
    }
    return [
        {
            **common,
            "backend": "moto",
            "rtt_ms": 0.0,
            "tick_ms": summary(live_ms),
            "tick_cpu_ms_median": statistics.median(live_cpu_ms),
        },
        {
            **common,
            "backend": "replay",
            "rtt_ms": rtt_ms,
            "tick_ms": summary(replay_ms),
            "tick_cpu_ms_median": statistics.median(replay_cpu_ms),
        },
    ]


COLD_START = """
import os, sys, time
sys.path.insert(0, sys.argv[1])
begin = time.perf_counter()
import lambda_function
imported = time.perf_counter()
os.environ.update(AWS_DEFAULT_REGION="ap-northeast-2")
os.environ.update(AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x")
from worker_metrics.contract import WorkerType, lambda_environment
url = "https://sqs.ap-northeast-2.amazonaws.com/123456789012/q-"
os.environ.update(lambda_environment(
    queue_urls={t: [url + t.value] for t in WorkerType}, asg_names={t: t.value for t in WorkerType}
))
configured = time.perf_counter()
lambda_function._load()
print((imported - begin) * 1000, (time.perf_counter() - configured) * 1000)
"""


def cold_start() -> dict[str, float]:
    """Median of fresh-interpreter import times and first-invocation set-up times."""
    imports, setups = [], []
    for _ in range(COLD_START_RUNS):
        done = subprocess.run(
            [sys.executable, "-I", "-c", COLD_START, str(ROOT / "lambda" / "queue_depth")],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        imported_ms, setup_ms = (float(x) for x in done.stdout.split())
        imports.append(imported_ms)
        setups.append(setup_ms)
    return {
        "import_ms_median": statistics.median(imports),
        "first_invocation_setup_ms_median": statistics.median(setups),
    }


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "| queues | backend | tick median (min-max) ms | tick CPU ms | API calls per tick | "
        "HTTP requests per tick | ASG writes, unchanged tick | "
        "PutMetricData for 1000 / 1001 datums |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in results["scenarios"]:
        tick = row["tick_ms"]
        calls = ", ".join(f"{k} {v:g}" for k, v in row["api_calls_per_tick"].items())
        http = sum(row["http_requests_per_tick"].values())
        puts = row["put_metric_data_calls_for_datums"]
        backend = (
            "moto server" if row["backend"] == "moto" else (f"replay + {row['rtt_ms']:g} ms RTT")
        )
        lines.append(
            f"| {row['queues']} | {backend} | {tick['median']:.1f} "
            f"({tick['min']:.1f}-{tick['max']:.1f}) | {row['tick_cpu_ms_median']:.1f} | "
            f"{calls} | {http:g} | "
            f"{row['asg_write_calls_unchanged_tick']:g} | {puts['1000']} / {puts['1001']} |"
        )
    lines.append("")
    for backend, ratio in results["ratio_100_vs_3"].items():
        lines.append(
            f"- 100-queue / 3-queue median tick time, {backend}: **{ratio:.2f}x** (goal <= 2x)"
        )
    lines.append(
        f"- host: {results['cpus']} CPUs, 1-minute load average "
        f"{results['load_average_1m_at_end']:.1f} at the end "
        "(wall times stretch with the load; CPU ms less so)"
    )
    cold = results["cold_start"]
    lines.append(
        f"- cold start: import lambda_function {cold['import_ms_median']:.0f} ms, first "
        f"invocation config + clients {cold['first_invocation_setup_ms_median']:.0f} ms "
        f"(median of {COLD_START_RUNS} fresh interpreters)"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed ticks per scenario (>= 5)")
    parser.add_argument(
        "--rtt-ms",
        type=float,
        default=20.0,
        help="modelled round trip per request of the replay backend (default 20)",
    )
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    if args.runs < 5:
        parser.error("--runs must be at least 5 (the median needs them)")
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        os.environ.pop(name, None)
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION=REGION
    )
    # botocore gzips request bodies of 10 KB and more (PutMetricData with about
    # 100+ datums); moto 5.2.1's server then answers HTTP 500 (BadGzipFile), while
    # AWS accepts them. Only the local server needs compression off.
    os.environ["AWS_DISABLE_REQUEST_COMPRESSION"] = "true"
    scenarios: list[dict[str, Any]] = []
    with moto_server() as endpoint:
        os.environ["AWS_ENDPOINT_URL"] = endpoint  # what build_clients' session reads
        for queue_count in (3, 100):
            scenarios += scenario(endpoint, queue_count, args.runs, args.rtt_ms)
    ratios = {}
    for backend in ("moto", "replay"):
        by_size = {
            s["queues"]: s["tick_ms"]["median"] for s in scenarios if s["backend"] == backend
        }
        label = "moto server" if backend == "moto" else f"replay + {args.rtt_ms:g} ms RTT"
        ratios[label] = by_size[100] / by_size[3]
    results = {
        "benchmark": "lambda_tick",
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "load_average_1m_at_end": os.getloadavg()[0],
        "scenarios": scenarios,
        "ratio_100_vs_3": ratios,
        "cold_start": cold_start(),
    }
    print(markdown(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
