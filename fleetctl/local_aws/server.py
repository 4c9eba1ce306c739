"""The local AWS's server process: the child that serves moto on 127.0.0.1, and
``LocalAws``, the parent's handle that starts, attaches to and stops it."""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import logging
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
import types
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from fleetctl.local_aws.errors import LocalAwsError
from fleetctl.local_aws.moto_patches import apply_moto_patches

LOOPBACK = "127.0.0.1"
# The region of config/local.toml; callers pass their environment's region.
DEFAULT_REGION = "ap-northeast-2"
# moto accepts any credentials; "test" is the convention of moto and LocalStack.
DUMMY_CREDENTIAL = "test"
# The project root, so that the child can import fleetctl without an installed package.
_PROJECT_ROOT = Path(__file__).resolve().parents[2]
_MODULE = "fleetctl.local_aws"
# How often the child checks that its parent is still alive (seconds).
_PARENT_POLL_SECONDS = 0.25

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- child


def _watch_parent(parent_pid: int, use_pdeathsig: bool) -> None:
    """Exit when the process that started us is gone, so no server is orphaned.

    PR_SET_PDEATHSIG delivers SIGTERM the moment the parent dies, but Linux ties it
    to the parent *thread* that forked us; the parent asks for it only when it
    started us from its main thread. The getppid() poll covers everything else
    (other platforms, a parent thread that ended, a parent that died before prctl).
    """
    if use_pdeathsig and sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0) != 0:
            log.warning("prctl(PR_SET_PDEATHSIG) failed (errno %d)", ctypes.get_errno())
    if os.getppid() != parent_pid:
        raise SystemExit("local AWS: parent exited before the server started")

    def poll() -> None:
        while os.getppid() == parent_pid:
            time.sleep(_PARENT_POLL_SECONDS)
        # Raise SystemExit in the main thread, which runs the serve loop's cleanup.
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=poll, name="watch-parent", daemon=True).start()


def _exit_on_signal(signum: int, frame: types.FrameType | None) -> None:
    raise SystemExit(128 + signum)


def serve(
    port: int = 0,
    *,
    parent_pid: int | None = None,
    use_pdeathsig: bool = False,
    announce_fd: int | None = None,
    verbose: bool = False,
) -> None:
    """Run the patched moto server on 127.0.0.1 in this process until a signal.

    ``port`` 0 lets the kernel pick a free port, with no race between choosing and
    binding it. The bound port is written as one line to ``announce_fd`` (the
    starting parent's pipe), or printed when run by hand.
    """
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGINT, _exit_on_signal)
    if parent_pid is not None:
        _watch_parent(parent_pid, use_pdeathsig)
    apply_moto_patches()
    logging.getLogger("werkzeug").setLevel(logging.INFO if verbose else logging.WARNING)

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    server = make_server(LOOPBACK, port, DomainDispatcherApplication(create_backend_app), True)
    # moto builds some URLs (e.g. for Lambda environments) from MOTO_PORT.
    os.environ["MOTO_PORT"] = str(server.port)
    if announce_fd is not None:
        os.write(announce_fd, f"{server.port}\n".encode())
        os.close(announce_fd)
    else:
        print(f"local AWS listening on http://{LOOPBACK}:{server.port} (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


# --------------------------------------------------------------------------- parent


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(_PROJECT_ROOT), env.get("PYTHONPATH", "")) if p
    )
    return env


def _read_announced_port(
    read_fd: int, process: subprocess.Popen[bytes], deadline: float, log_path: Path
) -> int:
    buffer = b""
    while b"\n" not in buffer:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise LocalAwsError(f"local AWS did not bind a port in time; log: {_tail(log_path)}")
        ready, _, _ = select.select([read_fd], [], [], min(remaining, 0.2))
        if ready:
            chunk = os.read(read_fd, 64)
            if not chunk:
                process.wait(timeout=5)
                raise LocalAwsError(
                    f"local AWS exited during startup (code {process.returncode}): "
                    f"{_tail(log_path)}"
                )
            buffer += chunk
    return int(buffer.split(b"\n", 1)[0])


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as error:
        return f"(no log at {path}: {error})"


def _wait_ready(endpoint: str, deadline: float, is_alive: Callable[[], bool]) -> None:
    # An empty ProxyHandler: an HTTP(S)_PROXY in the environment must not route
    # the probe off the machine.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if not is_alive():
            raise LocalAwsError("local AWS exited while waiting for it to answer")
        try:
            with opener.open(f"{endpoint}/moto-api/config", timeout=1.0) as response:
                if 200 <= response.status < 300:
                    return
        except (urllib.error.URLError, OSError) as error:
            last_error = error
        time.sleep(0.05)
    raise LocalAwsError(f"local AWS at {endpoint} did not answer in time: {last_error}")


def _pid_is_local_aws(pid: int) -> bool:
    """True when ``pid`` runs this module, so a recycled pid is never signalled."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False
    except OSError:
        # No /proc (not Linux): fall back to "the pid exists".
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return _MODULE.encode() in cmdline


@dataclass
class LocalAws:
    """A running local AWS. Create it with ``LocalAws.start()`` or ``LocalAws.attach()``.

    ``endpoint``: ``http://127.0.0.1:PORT``. ``region``: the region ``env()`` sets.
    ``pid``: the server process, which is also its process group. ``log_path``:
    the server's output.
    """

    endpoint: str
    region: str
    pid: int
    log_path: Path
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _owns_log: bool = field(default=False, repr=False)
    _previous_sigterm: Any = field(default=None, repr=False)

    @classmethod
    def start(
        cls,
        *,
        region: str = DEFAULT_REGION,
        port: int = 0,
        startup_timeout: float = 30.0,
        die_with_parent: bool = True,
        log_path: Path | None = None,
        verbose: bool = False,
    ) -> Self:
        """Start the server child and wait until it answers on loopback.

        ``port``: default 0, a free port chosen by the kernel. ``startup_timeout``
        (seconds): default 30. ``die_with_parent``: default true; the server exits
        when this process does, and ``stop()`` is registered with ``atexit``. Pass
        false only to leave it running on purpose (``--keep``). ``log_path``:
        default a temporary file, deleted by ``stop()``.

        Raises LocalAwsError (MotoPatchError when a patch no longer fits moto).
        """
        owns_log = log_path is None
        if log_path is None:
            handle, name = tempfile.mkstemp(prefix="local-aws-", suffix=".log")
            os.close(handle)
            log_path = Path(name)
        read_fd, write_fd = os.pipe()
        command = [
            sys.executable,
            "-m",
            _MODULE,
            "serve",
            "--port",
            str(port),
            "--announce-fd",
            str(write_fd),
        ]
        if verbose:
            command.append("--verbose")
        if die_with_parent:
            command += ["--parent-pid", str(os.getpid())]
            if threading.current_thread() is threading.main_thread():
                command.append("--pdeathsig")
        with log_path.open("ab") as log_file:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                pass_fds=(write_fd,),
                # Its own session: terminal Ctrl-C reaches only us, we stop it in
                # order, and stop() can kill its whole process group.
                start_new_session=True,
                env=_child_env(),
                cwd=_PROJECT_ROOT,
            )
        os.close(write_fd)
        deadline = time.monotonic() + startup_timeout
        aws: Self | None = None
        try:
            bound_port = _read_announced_port(read_fd, process, deadline, log_path)
            aws = cls(
                endpoint=f"http://{LOOPBACK}:{bound_port}",
                region=region,
                pid=process.pid,
                log_path=log_path,
                _process=process,
                _owns_log=owns_log,
            )
            if die_with_parent:
                atexit.register(aws.stop)
            _wait_ready(aws.endpoint, deadline, lambda: process.poll() is None)
        except BaseException:
            if aws is not None:
                aws.stop()
            else:
                _terminate_group(process.pid, process)
                if owns_log:
                    log_path.unlink(missing_ok=True)
            raise
        finally:
            os.close(read_fd)
        return aws

    @classmethod
    def attach(cls, state_file: Path) -> Self:
        """A handle on a server left running by ``start --state-file``.

        Raises LocalAwsError when the file is missing or its server is gone.
        """
        try:
            state = json.loads(state_file.read_text())
        except (OSError, ValueError) as error:
            raise LocalAwsError(f"cannot read local AWS state file {state_file}: {error}") from None
        aws = cls(
            endpoint=str(state["endpoint"]),
            region=str(state["region"]),
            pid=int(state["pid"]),
            log_path=Path(state["log_path"]),
        )
        if not aws.is_running():
            raise LocalAwsError(
                f"the local AWS of {state_file} (pid {aws.pid}) is not running; start it again"
            )
        return aws

    def write_state(self, state_file: Path) -> None:
        """Record endpoint, region, pid and log so that ``attach()`` can find us."""
        state_file.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "endpoint": self.endpoint,
            "region": self.region,
            "pid": self.pid,
            "log_path": str(self.log_path),
        }
        state_file.write_text(json.dumps(state, indent=2) + "\n")

    def env(self) -> dict[str, str]:
        """Environment for boto3, the aws CLI and the Terraform aws provider (5.x).

        Dummy credentials, the region, the endpoint for every service, IMDS lookups
        disabled (no credential probe to 169.254.169.254), and loopback added to
        NO_PROXY so that a configured proxy never sees the traffic.
        """
        no_proxy = ",".join(
            p
            for p in (
                os.environ.get("NO_PROXY") or os.environ.get("no_proxy"),
                LOOPBACK,
                "localhost",
            )
            if p
        )
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": DUMMY_CREDENTIAL,
            "AWS_SECRET_ACCESS_KEY": DUMMY_CREDENTIAL,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_EC2_METADATA_DISABLED": "true",
            "NO_PROXY": no_proxy,
            "no_proxy": no_proxy,
        }

    def is_running(self) -> bool:
        if self._process is not None:
            return self._process.poll() is None
        return _pid_is_local_aws(self.pid)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server and its process group: SIGTERM, then SIGKILL after ``timeout``.

        Idempotent; safe from ``atexit`` and ``finally``.
        """
        with contextlib.suppress(ValueError):
            atexit.unregister(self.stop)
        if self._process is not None:
            if self._process.poll() is None:
                _terminate_group(self.pid, self._process, timeout)
            # else: already exited and reaped; its pid may belong to someone else now.
        elif _pid_is_local_aws(self.pid):
            _terminate_group(self.pid, None, timeout)
        if self._owns_log:
            self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> Self:
        # SIGTERM's default action ends Python without unwinding, so no finally or
        # atexit would run. Inside the block it raises SystemExit instead, which
        # unwinds through __exit__. Only from the main thread (signal's rule), and
        # only over the default handler (never over the application's own).
        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        ):
            self._previous_sigterm = signal.signal(signal.SIGTERM, _exit_on_signal)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: types.TracebackType | None,
    ) -> None:
        try:
            self.stop()
        finally:
            if self._previous_sigterm is not None:
                signal.signal(signal.SIGTERM, self._previous_sigterm)
                self._previous_sigterm = None


def _terminate_group(
    pid: int, process: subprocess.Popen[bytes] | None, timeout: float = 10.0
) -> None:
    """SIGTERM the process group ``pid``, wait, then SIGKILL it."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            # The group leader left and its id was reused by someone else's group.
            return
        if _wait_gone(pid, process, timeout):
            return
    raise LocalAwsError(f"local AWS (pid {pid}) survived SIGKILL")


def _wait_gone(pid: int, process: subprocess.Popen[bytes] | None, timeout: float) -> bool:
    if process is not None:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _pid_is_local_aws(pid):
            return True
        time.sleep(0.05)
    return False
