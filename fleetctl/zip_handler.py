"""Run the deployed Lambda code locally: the handler imported from the built zip.

moto stores the function but cannot run it without Docker (NOTES §2), so the
demo invokes it here instead, as the Lambda runtime would: a separate, isolated
interpreter (``python -I``) with only the zip on ``sys.path`` in front of the
environment's site-packages (boto3 comes from there, as the runtime provides it),
and an environment made of the function's own variables, read back from the
deployed function, plus the local AWS's endpoint and credentials.

The interpreter stays up between invocations (a warm container): one JSON event
per line on its stdin, one JSON answer per line on its stdout. The handler's
log lines go to its stderr, collected in ``log_path``. Nothing in the Lambda
package knows it is being run this way.

Time is simulated. Before each invocation the runner sets the handler's sampling
clock (``lambda_function.clock``, the package's one injection point) to a
``SimulatedClock`` at the event's ``time``: the invocation samples its minute
every ``SAMPLE_SECONDS`` without waiting. Each time the loop sleeps, the runner
reports the simulated interval on stdout (``{"sleep": [since, until]}``) and
waits for ``{"resume": true}``; ``invoke(event, on_sleep=...)`` lets the caller
move its world forward in between (messages arriving, jobs finishing), so the
samples of one minute see different queues.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Self

DEFAULT_INVOKE_TIMEOUT_SECONDS = 60.0
"""Bound on each answer of the handler (a sample's work, on the simulated clock)."""

# Runs inside the isolated interpreter. It answers {"ok": true, "result": ...} or
# {"ok": false, "error": "<type>: <message>", "result": <InvocationResult record|None>},
# after one {"sleep": [since, until]} line per sleep of the sampling loop.
_BOOTSTRAP = r"""
import json, sys, traceback
sys.path.insert(0, sys.argv[1])
import lambda_function
import worker_metrics.tick
from worker_metrics.sampling import SimulatedClock
out = sys.stdout
sys.stdout = sys.stderr  # prints from the handler must not corrupt the protocol
out.write(json.dumps({"ready": True, "handler_file": lambda_function.__file__}) + "\n")
out.flush()

def slept(since, until):
    out.write(json.dumps({"sleep": [since.isoformat(), until.isoformat()]}) + "\n")
    out.flush()
    json.loads(sys.stdin.readline())  # {"resume": true} once the caller's world moved on

while True:
    line = sys.stdin.readline()
    if not line:
        break
    event = json.loads(line)
    start = worker_metrics.tick.tick_time(event)
    lambda_function.clock = SimulatedClock(start, on_sleep=slept)
    try:
        answer = {"ok": True, "result": lambda_function.lambda_handler(event, None)}
    except worker_metrics.tick.TickFailed as failed:
        tick = getattr(failed, "result", None)
        record = tick.record() if hasattr(tick, "record") else None
        answer = {"ok": False, "error": "TickFailed: " + str(failed)[:500], "result": record}
    except Exception as error:
        traceback.print_exc()
        answer = {"ok": False, "error": type(error).__name__ + ": " + str(error)[:500],
                  "result": None}
    out.write(json.dumps(answer, default=str) + "\n")
    out.flush()
"""


class ZipHandlerError(RuntimeError):
    """The handler process could not start, died, or did not answer in time."""


@dataclass(frozen=True)
class Invocation:
    """One invocation's outcome: ``ok`` false when the handler raised.

    ``result``: the handler's return value (the invocation's record, with each
    sample's under ``samples``), or the failed invocation's when it raised
    ``TickFailed``. ``error``: ``"<type>: <message>"``.
    """

    ok: bool
    result: Mapping[str, Any] | None
    error: str = ""


class ZipHandler:
    """A warm, isolated interpreter running ``lambda_function.lambda_handler`` from a zip.

    Use as a context manager, or call ``close()``. ``environment``: the function's
    variables plus the AWS endpoint/credentials; nothing else of our environment is
    passed except ``PATH`` and locale/proxy settings.
    """

    def __init__(
        self,
        zip_path: Path,
        environment: Mapping[str, str],
        *,
        log_path: Path | None = None,
        invoke_timeout: float = DEFAULT_INVOKE_TIMEOUT_SECONDS,
    ) -> None:
        if not zip_path.is_file():
            raise ZipHandlerError(f"{zip_path}: no such package; run `make lambda`")
        self.zip_path = zip_path.resolve()
        self.invoke_timeout = invoke_timeout
        if log_path is None:
            handle, name = tempfile.mkstemp(prefix="queue-depth-lambda-", suffix=".log")
            os.close(handle)
            log_path = Path(name)
        self.log_path = log_path
        inherited = {
            key: value
            for key, value in os.environ.items()
            if key in ("PATH", "LANG", "LC_ALL", "TZ", "NO_PROXY", "no_proxy")
        }
        self._log: IO[bytes] = log_path.open("ab")
        self._process = subprocess.Popen(
            [sys.executable, "-I", "-c", _BOOTSTRAP, str(self.zip_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env={**inherited, **environment},
            cwd=tempfile.gettempdir(),
        )
        hello = self._read_line(self.invoke_timeout)
        self.handler_file = str(hello.get("handler_file", ""))
        if not self.handler_file.startswith(str(self.zip_path)):
            self.close()
            raise ZipHandlerError(
                f"the handler was imported from {self.handler_file}, not from {self.zip_path}"
            )

    def _read_line(self, timeout: float) -> dict[str, Any]:
        stdout = self._process.stdout
        if stdout is None:
            raise ZipHandlerError("the handler process has no stdout")
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.close()
                raise ZipHandlerError(f"the handler did not answer within {timeout:.0f} s")
            ready, _, _ = select.select([stdout], [], [], min(remaining, 1.0))
            if ready:
                break
            if self._process.poll() is not None:
                break
        line = stdout.readline()
        if not line:
            code = self._process.poll()
            self.close()
            raise ZipHandlerError(
                f"the handler process exited (status {code}); see {self.log_path}"
            )
        answer = json.loads(line)
        if not isinstance(answer, dict):
            raise ZipHandlerError(f"unexpected answer from the handler process: {line[:200]!r}")
        return answer

    def invoke(
        self,
        event: Mapping[str, Any],
        on_sleep: Callable[[datetime, datetime], None] | None = None,
    ) -> Invocation:
        """Invoke the handler with ``event``; wait at most ``invoke_timeout`` seconds
        for each answer.

        ``on_sleep(since, until)``: default none; called each time the handler's
        sampling loop sleeps on its simulated clock, before it resumes.
        """
        stdin = self._process.stdin
        if stdin is None or self._process.poll() is not None:
            raise ZipHandlerError(f"the handler process is not running; see {self.log_path}")
        stdin.write((json.dumps(event) + "\n").encode())
        stdin.flush()
        answer = self._read_line(self.invoke_timeout)
        while "sleep" in answer:
            since, until = (datetime.fromisoformat(t) for t in answer["sleep"])
            if on_sleep is not None:
                on_sleep(since, until)
            stdin.write(b'{"resume": true}\n')
            stdin.flush()
            answer = self._read_line(self.invoke_timeout)
        result = answer.get("result")
        return Invocation(
            ok=bool(answer.get("ok")),
            result=result if isinstance(result, dict) else None,
            error=str(answer.get("error") or ""),
        )

    def close(self) -> None:
        """End the interpreter (EOF, then SIGTERM/SIGKILL if it lingers). Idempotent."""
        process = self._process
        if process.poll() is None:
            if process.stdin is not None:
                with contextlib.suppress(BrokenPipeError):
                    process.stdin.close()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.terminate()
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=5)
        if process.stdout is not None:
            process.stdout.close()
        self._log.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: types.TracebackType | None,
    ) -> None:
        self.close()
