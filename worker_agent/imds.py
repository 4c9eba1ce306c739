"""An IMDSv2 client on urllib: a session token (PUT), then GETs with short timeouts.

Only what the agent reads: the instance id, the target lifecycle state and the
Spot interruption notice. Every request bypasses HTTP proxies (the metadata
address is link-local) and times out after ``timeout_seconds``, so an
unreachable IMDS is an ``ImdsUnavailable`` error within seconds, never a hang.
"""

from __future__ import annotations

import calendar
import json
import time
import urllib.error
import urllib.request
from typing import Callable

from worker_agent.core import SpotNotice

DEFAULT_ENDPOINT = "http://169.254.169.254"
TOKEN_TTL_SECONDS = 21600
"""Six hours, the IMDSv2 maximum; the token is renewed a minute before it expires."""

TARGET_LIFECYCLE_STATE = "/latest/meta-data/autoscaling/target-lifecycle-state"
SPOT_INSTANCE_ACTION = "/latest/meta-data/spot/instance-action"
INSTANCE_ID = "/latest/meta-data/instance-id"


class ImdsUnavailable(RuntimeError):
    """IMDS did not answer (not on EC2, metadata endpoint disabled, hop limit, timeout)."""


class Imds:
    """IMDSv2 at ``endpoint`` (default the link-local address; tests use 127.0.0.1)."""

    def __init__(
        self,
        endpoint: str = DEFAULT_ENDPOINT,
        timeout_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.timeout_seconds = timeout_seconds
        self._clock = clock
        self._token: str | None = None
        self._token_expires = 0.0
        # No proxy for a link-local address, whatever HTTP_PROXY says.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def _request(self, request: urllib.request.Request) -> str | None:
        """The body, or None for 404 (the item does not exist)."""
        try:
            with self._opener.open(request, timeout=self.timeout_seconds) as response:
                return response.read().decode()
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return None
            if err.code == 401:
                self._token = None  # expired or rejected: the next call takes a new one
            raise ImdsUnavailable(
                f"IMDS {request.get_method()} {request.full_url}: HTTP {err.code}"
            ) from None
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise ImdsUnavailable(
                f"IMDS at {self.endpoint} is unreachable ({reason}): the drain agent needs "
                "an EC2 instance with the metadata endpoint enabled (IMDSv2, hop limit >= 1)"
            ) from None

    def _session_token(self) -> str:
        if self._token is None or self._clock() >= self._token_expires:
            token = self._request(
                urllib.request.Request(
                    f"{self.endpoint}/latest/api/token",
                    method="PUT",
                    headers={"X-aws-ec2-metadata-token-ttl-seconds": str(TOKEN_TTL_SECONDS)},
                )
            )
            if not token:
                raise ImdsUnavailable(f"IMDS at {self.endpoint} returned no session token")
            self._token = token
            self._token_expires = self._clock() + TOKEN_TTL_SECONDS - 60
        return self._token

    def get(self, path: str) -> str | None:
        """GET a metadata path with the session token; None when it does not exist."""
        request = urllib.request.Request(
            f"{self.endpoint}{path}",
            headers={"X-aws-ec2-metadata-token": self._session_token()},
        )
        return self._request(request)

    def instance_id(self) -> str:
        value = self.get(INSTANCE_ID)
        if not value:
            raise ImdsUnavailable(f"IMDS at {self.endpoint} has no instance-id")
        return value.strip()

    def target_lifecycle_state(self) -> str | None:
        """``InService``, ``Terminated``, ...; None when the instance is not in an ASG."""
        value = self.get(TARGET_LIFECYCLE_STATE)
        return value.strip() if value else None

    def spot_notice(self) -> SpotNotice | None:
        """The Spot interruption notice, or None (the usual 404: none, or not Spot)."""
        value = self.get(SPOT_INSTANCE_ACTION)
        return parse_spot_notice(value) if value else None


def parse_spot_notice(text: str, now: float | None = None) -> SpotNotice:
    """``{"action": "terminate", "time": "2017-09-18T08:22:00Z"}`` as a ``SpotNotice``.

    An unreadable notice is still a notice: it is taken as an interruption at
    ``now`` (epoch seconds, default the current time).
    """
    try:
        record = json.loads(text)
        at = calendar.timegm(time.strptime(record["time"], "%Y-%m-%dT%H:%M:%SZ"))
        return SpotNotice(action=str(record.get("action", "terminate")), at=float(at))
    except (ValueError, KeyError, TypeError):
        return SpotNotice(action="unknown", at=time.time() if now is None else now)
