"""The agent's shell pieces: the IMDSv2 client, the local contract, the retried AWS calls."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from tests.drain_agent.fake_imds import TOKEN, fake_imds
from worker_agent.agent import Agent, Superseded
from worker_agent.aws import ActionFailed, LifecycleApi, with_backoff
from worker_agent.config import AgentConfig, ConfigError
from worker_agent.consume import ConsumeLoop, Outcome
from worker_agent.contract import RunDir
from worker_agent.core import DrainReason, Job, SetProtection
from worker_agent.imds import Imds, ImdsUnavailable, parse_spot_notice

# ------------------------------------------------------------------ IMDS


def test_imds_takes_a_session_token_then_reads_with_it() -> None:
    # GIVEN a fake IMDSv2
    with fake_imds("i-0abc") as imds_state:
        imds = Imds(imds_state.endpoint)
        # WHEN the agent reads its id and target state twice
        assert imds.instance_id() == "i-0abc"
        assert imds.target_lifecycle_state() == "InService"
        assert imds.target_lifecycle_state() == "InService"
    # THEN one PUT for the token, then every GET carries it
    methods = [(m, token) for m, _path, token in imds_state.requests]
    assert methods[0] == ("PUT", None)
    assert methods[1:] == [("GET", TOKEN)] * 3


def test_imds_404_means_absent_and_a_spot_notice_parses() -> None:
    with fake_imds("i-0abc") as imds_state:
        imds = Imds(imds_state.endpoint)
        assert imds.spot_notice() is None
        imds_state.spot_notice = '{"action": "terminate", "time": "2030-01-02T03:04:05Z"}'
        notice = imds.spot_notice()
    assert notice is not None and notice.action == "terminate"
    assert notice.at == 1893553445.0


def test_an_unreadable_spot_notice_is_still_a_notice_now() -> None:
    notice = parse_spot_notice("not json", now=42.0)
    assert (notice.action, notice.at) == ("unknown", 42.0)


def test_a_rejected_token_is_renewed_on_the_next_call() -> None:
    with fake_imds("i-0abc") as imds_state:
        imds = Imds(imds_state.endpoint)
        imds.instance_id()
        imds._token = "stale"  # what IMDS would reject after a restart
        # WHEN the stale token is refused THEN that call fails, and the next renews it
        with pytest.raises(ImdsUnavailable, match="HTTP 401"):
            imds.target_lifecycle_state()
        assert imds.target_lifecycle_state() == "InService"
    assert [m for m, _p, _t in imds_state.requests].count("PUT") == 2


def test_an_unreachable_imds_fails_fast_with_a_clear_message() -> None:
    # GIVEN a port where nothing listens
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    imds = Imds(f"http://127.0.0.1:{port}", timeout_seconds=0.5)
    # WHEN / THEN an error naming the endpoint and the requirement, not a hang
    with pytest.raises(ImdsUnavailable, match=r"unreachable.*needs an EC2 instance"):
        imds.instance_id()


def test_a_silent_imds_times_out() -> None:
    # GIVEN a server that accepts connections and never answers
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        imds = Imds(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout_seconds=0.3)
        started = time.monotonic()
        # WHEN / THEN it gives up after its timeout
        with pytest.raises(ImdsUnavailable):
            imds.target_lifecycle_state()
        assert time.monotonic() - started < 2


# ------------------------------------------------------------------ contract


@pytest.fixture
def run_dir(tmp_path: Path) -> Iterator[RunDir]:
    directory = RunDir(tmp_path / "academy-worker")
    directory.prepare()
    yield directory


def test_claim_hold_release_as_the_agent_reads_them(run_dir: RunDir) -> None:
    # GIVEN a worker that claims, then holds a message
    job_id = run_dir.claim()
    (claim,) = run_dir.read_jobs()
    assert claim == Job(job_id) and not claim.holds_message
    run_dir.hold(job_id, "https://sqs/q", "rh-1", expected_end=99.5)
    # WHEN the agent reads THEN it sees the message; after release, nothing
    assert run_dir.read_jobs() == (Job(job_id, "https://sqs/q", "rh-1", 99.5),)
    run_dir.release(job_id)
    assert run_dir.read_jobs() == ()


def test_a_job_file_whose_process_is_gone_is_ignored(run_dir: RunDir) -> None:
    (run_dir.jobs / "ghost").write_text(json.dumps({"pid": 999_999_999}))
    (run_dir.jobs / "alive").write_text(json.dumps({"pid": os.getpid()}))
    (run_dir.jobs / "nopid").write_text("")  # a worker that wrote an empty claim
    (run_dir.jobs / ".tmp-partial").write_text("{")
    assert [job.job_id for job in run_dir.read_jobs()] == ["alive", "nopid"]


def test_returned_markers_are_the_agents_to_clean(run_dir: RunDir) -> None:
    # GIVEN two jobs whose messages the agent gave back (Spot)
    ended, running = run_dir.claim(), run_dir.claim()
    run_dir.mark_returned(ended)
    run_dir.mark_returned(running)
    # WHEN one job ends (the worker removes only its own job file; the marker is the agent's)
    run_dir.release(ended)
    assert run_dir.was_returned(ended)
    run_dir.forget_returned(job.job_id for job in run_dir.read_jobs())
    # THEN the agent drops the ended job's marker and keeps the running one's
    assert not run_dir.was_returned(ended) and run_dir.was_returned(running)


def test_drain_and_protection_signals(run_dir: RunDir) -> None:
    assert run_dir.drain_reason() is None and not run_dir.is_protected()
    run_dir.signal_drain(DrainReason.SPOT)
    run_dir.set_protected(True)
    assert run_dir.drain_reason() is DrainReason.SPOT and run_dir.is_protected()
    # a restarted agent starts from nothing: both are derived again from IMDS and the API
    run_dir.prepare()
    assert run_dir.drain_reason() is None and not run_dir.is_protected()
    assert oct(run_dir.jobs.stat().st_mode & 0o7777) == "0o1777"


# ------------------------------------------------------------------ AWS calls


def _error(code: str, status: int = 400, message: str = "") -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "Op",
    )


class _Flaky:
    """Fails with ``errors`` in order, then succeeds; records the calls."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls: list[dict[str, Any]] = []

    def __call__(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if self.errors:
            raise self.errors.pop(0)
        return {}


def test_throttling_and_connection_errors_are_retried_with_growing_pauses() -> None:
    sleeps: list[float] = []
    call = _Flaky(_error("Throttling"), EndpointConnectionError(endpoint_url="x"), _error("", 503))
    with_backoff("Op", lambda: call(), sleeps.append, attempts=5)
    assert len(call.calls) == 4
    assert len(sleeps) == 3 and sleeps[0] <= 0.5 and sleeps[2] >= 1.0


def test_retries_end_with_an_error_naming_the_call() -> None:
    sleeps: list[float] = []
    call = _Flaky(*[_error("Throttling")] * 3)
    with pytest.raises(ActionFailed, match=r"Heartbeat: gave up after 3 attempts: Throttling"):
        with_backoff("Heartbeat", lambda: call(), sleeps.append, attempts=3)


class _Autoscaling:
    def __init__(self, **methods: _Flaky) -> None:
        self.__dict__.update(methods)


def _api(autoscaling: Any = None, sqs: Any = None) -> LifecycleApi:
    return LifecycleApi(
        autoscaling,
        sqs,
        asg_name="g",
        hook_name="g-drain",
        instance_id="i-1",
        sleep=lambda _s: None,
    )


def test_a_validation_error_is_not_retried() -> None:
    heartbeat = _Flaky(_error("ValidationError", message="No active Lifecycle Action found"))
    api = _api(_Autoscaling(record_lifecycle_action_heartbeat=heartbeat))
    with pytest.raises(ActionFailed, match="RecordLifecycleActionHeartbeat: ValidationError"):
        api.record_heartbeat()
    assert len(heartbeat.calls) == 1


def test_completing_an_action_that_is_gone_counts_as_done() -> None:
    # GIVEN an earlier completion whose reply was lost: AWS now finds no action
    complete = _Flaky(_error("ValidationError", message="No active Lifecycle Action found"))
    api = _api(_Autoscaling(complete_lifecycle_action=complete))
    # WHEN / THEN no error: there is nothing left to complete
    api.complete("CONTINUE")
    assert complete.calls == [
        {
            "AutoScalingGroupName": "g",
            "LifecycleHookName": "g-drain",
            "InstanceId": "i-1",
            "LifecycleActionResult": "CONTINUE",
        }
    ]


def test_returning_a_message_already_gone_counts_as_done() -> None:
    change = _Flaky(_error("InvalidParameterValue", message="Message does not exist"))
    _api(sqs=_Autoscaling(change_message_visibility=change)).return_message(Job("j", "q", "rh"))
    assert change.calls == [{"QueueUrl": "q", "ReceiptHandle": "rh", "VisibilityTimeout": 0}]


class _Sqs:
    """One message to receive; ``delete_message`` is the given fake."""

    def __init__(self, delete_message: _Flaky) -> None:
        self.delete_message = delete_message

    def receive_message(self, **kwargs: Any) -> dict[str, Any]:
        return {"Messages": [{"MessageId": "m-1", "ReceiptHandle": "rh", "Body": "{}"}]}


@pytest.mark.parametrize(
    ("errors", "calls"),
    [([_error("ServiceUnavailable", 503)] * 5, 5), ([_error("AccessDenied", 403)], 1)],
    ids=["retries-exhausted", "not-retryable"],
)
def test_a_message_that_cannot_be_deleted_is_an_error_not_done(
    run_dir: RunDir, caplog: pytest.LogCaptureFixture, errors: list[Exception], calls: int
) -> None:
    # GIVEN a job that succeeds, and a DeleteMessage that fails for good
    delete = _Flaky(*errors)
    sleeps: list[float] = []
    loop = ConsumeLoop(
        _Sqs(delete), ["q"], lambda message: None, run_dir=run_dir, wait_seconds=0,
        error_pause_seconds=0, retry_sleep=sleeps.append,
    )  # fmt: skip
    # WHEN the cycle runs THEN its outcome says the message stays (it will come back)
    assert loop.run_once() is Outcome.ERROR
    assert delete.calls == [{"QueueUrl": "q", "ReceiptHandle": "rh"}] * calls
    # a retryable error is retried with jittered pauses, never after the last attempt
    assert len(sleeps) == calls - 1
    assert "was not deleted" in caplog.text and "delivered again" in caplog.text
    assert run_dir.read_jobs() == ()


# ------------------------------------------------------------------ config


def _env(**overrides: str) -> dict[str, str]:
    env = {
        "ASG_NAME": "academy-prod-video-workers",
        "LIFECYCLE_HOOK_NAME": "academy-prod-video-workers-drain",
        "AWS_REGION": "ap-northeast-2",
        "DRAIN_HEARTBEAT_SECONDS": "1200",
        "SCALE_IN_PROTECTION": "self-managed",
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v != "-"}


def test_config_from_the_user_data_environment() -> None:
    config = AgentConfig.from_env(_env())
    assert config.manage_protection and config.heartbeat_interval_seconds == 1200
    assert config.poll_seconds == 2 and str(config.run_dir) == "/run/academy-worker"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"LIFECYCLE_HOOK_NAME": "-"}, "LIFECYCLE_HOOK_NAME is not set"),
        ({"DRAIN_HEARTBEAT_SECONDS": "soon"}, "DRAIN_HEARTBEAT_SECONDS = 'soon'"),
        ({"DRAIN_POLL_SECONDS": "0"}, "DRAIN_POLL_SECONDS = '0': must be a finite number > 0"),
        ({"SCALE_IN_PROTECTION": "yes"}, "SCALE_IN_PROTECTION = 'yes'"),
    ],
)
def test_config_errors_name_the_variable(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        AgentConfig.from_env(_env(**overrides))


# ------------------------------------------------------------------ Python 3.9


def test_the_agent_is_python_3_9() -> None:
    # GIVEN the agent's sources (the instance runs them on Amazon Linux 2023's python3.9)
    import ast

    from modules.agent_bundle import AGENT_SOURCE

    for path in sorted(AGENT_SOURCE.glob("*.py")):
        source = path.read_text()
        # THEN each parses as Python 3.9, and defers its annotations (X | None, list[str])
        ast.parse(source, str(path), feature_version=(3, 9))
        if path.name != "__init__.py":
            assert "from __future__ import annotations" in source, path.name


class _RecordingApi:
    instance_id = "i-1"

    def __init__(self) -> None:
        self.protection: list[bool] = []

    def set_protection(self, protected: bool) -> None:
        self.protection.append(protected)


def test_a_job_claimed_while_the_agent_unprotects_keeps_the_instance_protected(
    run_dir: RunDir,
) -> None:
    # GIVEN a protected instance whose agent observed no job and decided to unprotect
    api = _RecordingApi()
    agent = Agent(AgentConfig.from_env(_env()), imds=None, api=api, run_dir=run_dir)  # type: ignore[arg-type]
    agent.state = replace(agent.state, protected=True)
    run_dir.set_protected(True)

    # WHEN a worker claims a job before the agent acts (it will read the marker next)
    run_dir.claim()
    with pytest.raises(Superseded):
        agent.act(SetProtection(False), 0)

    # THEN the protection is never cleared and the marker is still there for the worker
    assert api.protection == []
    assert run_dir.is_protected()

    # AND with no job, the marker goes before the API call clears the protection
    (job,) = run_dir.read_jobs()
    run_dir.release(job.job_id)
    agent.act(SetProtection(False), 0)
    assert api.protection == [False]
    assert not run_dir.is_protected()
