"""A fake IMDSv2 on 127.0.0.1 for the agent's tests.

It enforces the IMDSv2 session (PUT a token, then send it on every GET; 401
without it) and answers the three paths the agent reads. The target lifecycle
state comes from ``target_state()``, a callable: the integration tests read it
from the local AWS (an instance in ``Terminating:Wait`` is ``Terminated``), so
the ASG's own decision reaches the agent the way it does on EC2.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from worker_agent.imds import INSTANCE_ID, SPOT_INSTANCE_ACTION, TARGET_LIFECYCLE_STATE

TOKEN = "fake-imds-token"


@dataclass
class FakeImds:
    """What the fake answers; change the fields while it runs."""

    instance_id: str
    target_state: Callable[[], str | None] = lambda: "InService"
    spot_notice: str | None = None
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    endpoint: str = ""


def _handler(state: FakeImds) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet
            pass

        def _answer(self, code: int, body: str = "") -> None:
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_PUT(self) -> None:
            state.requests.append(("PUT", self.path, None))
            if self.path == "/latest/api/token" and self.headers.get(
                "X-aws-ec2-metadata-token-ttl-seconds"
            ):
                self._answer(200, TOKEN)
            else:
                self._answer(400)

        def do_GET(self) -> None:
            token = self.headers.get("X-aws-ec2-metadata-token")
            state.requests.append(("GET", self.path, token))
            if token != TOKEN:
                self._answer(401)
                return
            value: str | None
            if self.path == INSTANCE_ID:
                value = state.instance_id
            elif self.path == TARGET_LIFECYCLE_STATE:
                value = state.target_state()
            elif self.path == SPOT_INSTANCE_ACTION:
                value = state.spot_notice
            else:
                value = None
            if value is None:
                self._answer(404)
            else:
                self._answer(200, value)

    return Handler


@contextmanager
def fake_imds(instance_id: str) -> Iterator[FakeImds]:
    """Serve a ``FakeImds`` on 127.0.0.1 (a free port) until the block ends."""
    state = FakeImds(instance_id=instance_id)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.endpoint = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
