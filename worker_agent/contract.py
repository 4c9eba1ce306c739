"""The local contract between any worker and the drain agent: files under ``/run/academy-worker/``.

A worker in any language follows it (``worker_agent.consume`` does it for Python):

``jobs/<id>`` (worker, one per job; the directory is sticky and world-writable like /tmp)
    Create it *before* ReceiveMessage: from then on the instance is busy (a
    *claim*). Then check ``drain``: if it exists, remove the claim and take no
    work. When a message arrives, replace the file atomically (write
    ``jobs/.<id>.tmp``, then rename) with one JSON object::

        {"pid": 4242, "queue_url": "https://sqs...", "receipt_handle": "AQE...",
         "expected_end": 1767225600.0}

    ``pid`` (the process running the job) is required: a file whose process is
    gone is stale and ignored. ``expected_end`` (epoch seconds) is optional.
    Remove the file when the job ends, done or failed. Ids: ``[A-Za-z0-9_-]``.
``drain`` (agent)
    Exists once the instance must take no new work; its content is the reason,
    ``scale-in`` (the ASG is terminating the instance: finish what you hold, the
    agent waits for it) or ``spot-interruption`` (about two minutes left).
``protected`` (agent; fleets with ``SCALE_IN_PROTECTION=self-managed``)
    Exists while the instance is protected from scale-in. There a worker waits
    for it after creating its claim and before ReceiveMessage, so it never takes
    a message while the ASG may pick it for scale-in.
``returned/<id>`` (agent, Spot only)
    The message of job ``<id>`` was given back to its queue (visibility 0):
    stop extending its visibility; the job will be redone elsewhere.
``agent.json`` (agent)
    The agent's state, for people (``cat /run/academy-worker/agent.json``).

The order of the checks matters: the agent writes ``drain`` and then lists
``jobs/``; the worker writes its claim and then reads ``drain``. Whichever comes
second sees the other, so no job starts after the agent found the instance idle.
The same holds for protection: to clear it the agent removes ``protected``, lists
``jobs/`` again (a claim there keeps the protection and restores the marker) and
only then calls the API; the worker claims, then reads ``protected``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Callable

from worker_agent.core import DrainReason, Job

DEFAULT_RUN_DIR = Path("/run/academy-worker")
"""Where the contract's files live (tmpfs: gone at reboot). ``WORKER_RUN_DIR`` overrides."""

_JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def _write_atomically(path: Path, text: str, mode: int = 0o644) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    os.chmod(temporary, mode)
    os.replace(temporary, path)


class RunDir:
    """The contract's directory. Methods name which side calls them."""

    def __init__(self, path: Path = DEFAULT_RUN_DIR) -> None:
        self.path = Path(path)
        self.jobs = self.path / "jobs"
        self.returned = self.path / "returned"
        self.drain_file = self.path / "drain"
        self.protected_file = self.path / "protected"
        self.status_file = self.path / "agent.json"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RunDir:
        """``WORKER_RUN_DIR`` or ``/run/academy-worker``."""
        env = os.environ if environ is None else environ
        return cls(Path(env.get("WORKER_RUN_DIR", str(DEFAULT_RUN_DIR))))

    # ------------------------------------------------------------------ agent side

    def prepare(self) -> None:
        """Create the directories and drop the signals of a previous agent run.

        ``drain`` and ``protected`` are re-derived from IMDS and the API on the
        first poll; a stale ``protected`` would let a worker take a message on an
        unprotected instance.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        self.jobs.mkdir(exist_ok=True)
        os.chmod(self.jobs, 0o1777)
        self.returned.mkdir(exist_ok=True)
        for stale in (self.drain_file, self.protected_file):
            if stale.exists():
                stale.unlink()

    def read_jobs(self, alive: Callable[[int], bool] = _process_alive) -> tuple[Job, ...]:
        """The live job files, sorted by id; stale ones (process gone) are skipped."""
        jobs = []
        try:
            names = sorted(os.listdir(self.jobs))
        except FileNotFoundError:
            return ()
        for name in names:
            if name.startswith(".") or not _JOB_ID.match(name):
                continue
            try:
                text = (self.jobs / name).read_text()
            except FileNotFoundError:  # ended between listdir and read
                continue
            record = _parse(text)
            pid = record.get("pid")
            if isinstance(pid, int) and not alive(pid):
                continue
            expected_end = record.get("expected_end")
            jobs.append(
                Job(
                    job_id=name,
                    queue_url=str(record.get("queue_url") or ""),
                    receipt_handle=str(record.get("receipt_handle") or ""),
                    expected_end=float(expected_end)
                    if isinstance(expected_end, (int, float))
                    else None,
                )
            )
        return tuple(jobs)

    def signal_drain(self, reason: DrainReason) -> None:
        _write_atomically(self.drain_file, reason.value + "\n")

    def set_protected(self, protected: bool) -> None:
        if protected:
            _write_atomically(self.protected_file, "1\n")
        elif self.protected_file.exists():
            self.protected_file.unlink()

    def mark_returned(self, job_id: str) -> None:
        _write_atomically(self.returned / job_id, "returned\n")

    def forget_returned(self, live: Iterable[str]) -> None:
        """Drop the ``returned/`` markers of jobs that ended (the agent owns them)."""
        keep = set(live)
        for marker in list(self.returned.iterdir()) if self.returned.is_dir() else []:
            if marker.name not in keep and not marker.name.startswith("."):
                with contextlib.suppress(FileNotFoundError):
                    marker.unlink()

    def write_status(self, status: dict[str, Any]) -> None:
        _write_atomically(self.status_file, json.dumps(status, sort_keys=True) + "\n")

    # ------------------------------------------------------------------ worker side

    def drain_reason(self) -> DrainReason | None:
        """The reason to take no new work, or None to go on."""
        try:
            text = self.drain_file.read_text().strip()
        except FileNotFoundError:
            return None
        try:
            return DrainReason(text)
        except ValueError:  # unknown content still means stop
            return DrainReason.SCALE_IN

    def is_protected(self) -> bool:
        return self.protected_file.exists()

    def claim(self) -> str:
        """Mark the instance busy before receiving; returns the new job id."""
        job_id = uuid.uuid4().hex
        _write_atomically(self.jobs / job_id, json.dumps({"pid": os.getpid()}) + "\n", 0o644)
        return job_id

    def hold(
        self,
        job_id: str,
        queue_url: str,
        receipt_handle: str,
        expected_end: float | None = None,
    ) -> None:
        """Record the message that claim ``job_id`` now holds."""
        record: dict[str, Any] = {
            "pid": os.getpid(),
            "queue_url": queue_url,
            "receipt_handle": receipt_handle,
        }
        if expected_end is not None:
            record["expected_end"] = expected_end
        _write_atomically(self.jobs / job_id, json.dumps(record) + "\n")

    def release(self, job_id: str) -> None:
        """The job (or claim) ended: the instance is idle again if it held no other."""
        with contextlib.suppress(FileNotFoundError):
            (self.jobs / job_id).unlink()

    def was_returned(self, job_id: str) -> bool:
        return (self.returned / job_id).exists()


def _parse(text: str) -> dict[str, Any]:
    """A job file's JSON object; anything else (an empty claim) counts as a claim."""
    try:
        record = json.loads(text) if text.strip() else {}
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}
