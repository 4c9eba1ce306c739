"""A throwaway PostgreSQL cluster on 127.0.0.1, for tests and the benchmark.

The machine has the PostgreSQL server binaries but no running server (NOTES §1).
``PostgresCluster`` runs ``initdb`` into a fresh temporary folder, starts
``postgres`` on a free loopback port with its unix socket inside that folder,
and removes everything on ``stop()``. Nothing outside the folder is touched, so
parallel runs (pytest-xdist, a benchmark next to the tests) do not collide.

PostgreSQL refuses to run as root. When we are root (CI runs as root), the
binaries run as the ``postgres`` OS user through ``runuser``; that user is
created with ``useradd`` when missing. As any other user they run directly.

TCP connections authenticate with scram-sha-256 (so a test can present bad
credentials); the unix socket trusts the OS user and is used only by ``psql``.

Any failure raises ``PostgresUnavailable`` with the cause and the tail of the
server log; the test fixture turns it into a failure, never a skip.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SERVER_USER = "postgres"
"""OS user that runs the server when we are root."""

SUPERUSER = "postgres"
"""Database superuser that ``initdb`` creates (``-U``)."""

DEFAULT_SETTINGS: Mapping[str, str] = {
    # A throwaway cluster: durability buys nothing and costs time.
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "20",
    "shared_buffers": "128MB",
}


class PostgresUnavailable(RuntimeError):
    """The throwaway cluster could not be set up or started (the message says why)."""


def _find_binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    # Debian/Ubuntu keep the server binaries off PATH.
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    if candidates:
        return candidates[0]
    raise PostgresUnavailable(
        f"PostgreSQL server binary {name!r} not found on PATH or in /usr/lib/postgresql/*/bin; "
        "install the PostgreSQL server (e.g. apt-get install postgresql) to run these tests"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _ensure_server_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        pass
    result = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVER_USER],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise PostgresUnavailable(
            f"running as root and the OS user {SERVER_USER!r} is missing; "
            f"useradd failed: {result.stderr.strip()}"
        )
    return pwd.getpwnam(SERVER_USER)


@dataclass
class PostgresCluster:
    """One throwaway cluster. Use as a context manager, or ``start()``/``stop()``.

    ``settings``: extra ``postgresql.conf`` settings, merged over
    ``DEFAULT_SETTINGS``. ``password``: of the ``postgres`` superuser over TCP
    (random by default).
    """

    settings: Mapping[str, str] = field(default_factory=dict)
    password: str = field(default_factory=lambda: secrets.token_hex(12))
    host: str = "127.0.0.1"
    port: int = 0
    root: Path | None = None
    _running: bool = False
    _as_root: bool = False

    # ------------------------------------------------------------ lifecycle
    def start(self) -> PostgresCluster:
        """initdb + start; raises ``PostgresUnavailable`` with the reason."""
        initdb, pg_ctl = _find_binary("initdb"), _find_binary("pg_ctl")
        self._as_root = os.geteuid() == 0
        owner = _ensure_server_user() if self._as_root else None
        self.root = Path(tempfile.mkdtemp(prefix="pg-throwaway-"))
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o600)
        if owner is not None:
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            os.chown(pwfile, owner.pw_uid, owner.pw_gid)
        self._run(
            [
                initdb,
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                f"--pwfile={pwfile}",
                "--auth-host=scram-sha-256",
                "--auth-local=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            what="initdb",
        )
        pwfile.unlink()
        last_error: PostgresUnavailable | None = None
        for _attempt in range(3):  # the free port can be taken between probe and bind
            self.port = _free_port()
            options = {
                **DEFAULT_SETTINGS,
                **self.settings,
                "listen_addresses": self.host,
                "port": str(self.port),
                "unix_socket_directories": str(self.root),
            }
            conf = self.data_dir / "postgresql.auto.conf"
            conf.write_text("".join(f"{key} = '{value}'\n" for key, value in options.items()))
            try:
                self._run(
                    [
                        pg_ctl,
                        "start",
                        "-w",
                        "-t",
                        "60",
                        "-D",
                        str(self.data_dir),
                        "-l",
                        str(self.log_file),
                    ],
                    what="pg_ctl start",
                )
            except PostgresUnavailable as error:
                last_error = error
                if "already in use" in str(error):
                    continue
                break
            self._running = True
            return self
        self._remove()
        assert last_error is not None
        raise last_error

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its folder. Idempotent."""
        if self._running:
            self._running = False
            with contextlib.suppress(PostgresUnavailable):
                self._run(
                    [
                        _find_binary("pg_ctl"),
                        "stop",
                        "-w",
                        "-m",
                        "immediate",
                        "-D",
                        str(self.data_dir),
                    ],
                    what="pg_ctl stop",
                )
        self._remove()

    def __enter__(self) -> PostgresCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ access
    @property
    def data_dir(self) -> Path:
        assert self.root is not None, "cluster not started"
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        assert self.root is not None, "cluster not started"
        return self.root / "server.log"

    def connect_kwargs(self, database: str = "postgres") -> dict[str, object]:
        """Keyword arguments for ``pg8000.native.Connection`` as the superuser over TCP."""
        return {
            "user": SUPERUSER,
            "password": self.password,
            "host": self.host,
            "port": self.port,
            "database": database,
        }

    def psql(self, sql: str, database: str = "postgres", variables: Sequence[str] = ()) -> str:
        """Run SQL through ``psql`` on the unix socket (ON_ERROR_STOP); returns stdout."""
        assert self.root is not None, "cluster not started"
        args = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(self.root)]
        args += ["-p", str(self.port), "-U", SUPERUSER, "-d", database, "-At"]
        for variable in variables:
            args += ["-v", variable]
        return self._run(args, what="psql", stdin=sql)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    # ------------------------------------------------------------ internals
    def _run(self, args: list[str], what: str, stdin: str | None = None) -> str:
        command = ["runuser", "-u", SERVER_USER, "--", *args] if self._as_root else args
        try:
            result = subprocess.run(
                command,
                input=stdin,
                capture_output=True,
                text=True,
                check=False,
                cwd=self.root,
                timeout=3600,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise PostgresUnavailable(f"{what} could not run: {error}") from error
        if result.returncode != 0:
            raise PostgresUnavailable(
                f"{what} failed (exit {result.returncode}): {result.stderr.strip()}\n"
                f"--- server log ({self.log_file if self.root else '-'}) ---\n{self.log_tail()}"
            )
        return result.stdout

    def _remove(self) -> None:
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)


def running_cluster(settings: Mapping[str, str] | None = None) -> Iterator[PostgresCluster]:
    """Generator form for fixtures: yields a started cluster and always stops it."""
    cluster = PostgresCluster(settings=dict(settings or {}))
    try:
        yield cluster.start()
    finally:
        cluster.stop()
