"""The AWS clients of ``verify``: every call, with credential and endpoint errors
turned into ``CannotVerify``, one line naming the cause and the fix."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    SSOTokenLoadError,
    TokenRetrievalError,
    UnauthorizedSSOTokenError,
)


class CannotVerify(RuntimeError):
    """The checks cannot run at all; the message is one line with the cause and the fix."""


INVALID_CREDENTIAL_CODES = frozenset(
    {"InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch"}
)
EXPIRED_CREDENTIAL_CODES = frozenset({"ExpiredToken", "ExpiredTokenException"})
ACCESS_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})
_DENIED_ACTION = re.compile(r"perform: ([A-Za-z0-9-]+:[A-Za-z0-9]+)")


def explain_client_error(error: ClientError, action: str) -> str | None:
    """One line with the cause and the fix for a credential error, else ``None``.

    ``action`` is the IAM action of the failed call (``cloudwatch:ListMetrics``).
    """
    code = str(error.response.get("Error", {}).get("Code", ""))
    if code in INVALID_CREDENTIAL_CODES:
        return (
            f"AWS rejected the credentials ({code} on {action}): the access key does not exist "
            "in this account or the secret key is wrong. Fix: set AWS_PROFILE to a profile of "
            "the deployment account (or export its AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) "
            "and run again"
        )
    if code in EXPIRED_CREDENTIAL_CODES:
        return (
            f"the AWS session token has expired ({code} on {action}). Fix: run `aws sso login` "
            "(with AWS_PROFILE set to your profile) or refresh the temporary credentials, "
            "and run again"
        )
    if code in ACCESS_DENIED_CODES:
        message = str(error.response.get("Error", {}).get("Message", ""))
        match = _DENIED_ACTION.search(message)
        denied = match.group(1) if match else action
        return (
            f"access denied: the caller may not call {denied} ({code}). Fix: grant `{denied}` "
            "to your role or user, or set AWS_PROFILE to a profile that has it"
        )
    return None


def explain_botocore_error(error: BotoCoreError, action: str) -> str | None:
    """One line with the cause and the fix for a credential/endpoint error, else ``None``."""
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return (
            f"no AWS credentials found ({type(error).__name__} on {action}). Fix: set AWS_PROFILE "
            "to a configured profile (run `aws sso login` for an SSO profile) or export "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )
    if isinstance(error, TokenRetrievalError | SSOTokenLoadError | UnauthorizedSSOTokenError):
        return (
            f"the SSO session is missing or expired ({type(error).__name__} on {action}). "
            "Fix: run `aws sso login` (with AWS_PROFILE set to your profile) and run again"
        )
    if isinstance(error, EndpointConnectionError):
        return (
            f"cannot reach the AWS endpoint for {action} ({error}). Fix: check the network, "
            "the region, or AWS_ENDPOINT_URL when verifying the local AWS"
        )
    return None


class Aws:
    """The four clients, with every call mapped to ``CannotVerify`` on a credential error."""

    SERVICES = ("cloudwatch", "autoscaling", "events", "lambda")

    def __init__(self, clients: Mapping[str, Any]) -> None:
        missing = [s for s in self.SERVICES if s not in clients]
        if missing:
            raise ValueError(f"clients: missing {', '.join(missing)}")
        self.clients = dict(clients)

    @classmethod
    def from_session(cls, session: boto3.Session) -> Aws:
        """Clients with short timeouts and standard retries (a check should not hang)."""
        config = Config(
            connect_timeout=5, read_timeout=15, retries={"mode": "standard", "max_attempts": 3}
        )
        return cls({service: session.client(service, config=config) for service in cls.SERVICES})

    def call(self, service: str, method: str, **kwargs: Any) -> dict[str, Any]:
        """``clients[service].<method>(**kwargs)``; raises ``CannotVerify`` for
        credential and endpoint errors, re-raises any other botocore error."""
        client = self.clients[service]
        operation = client.meta.method_to_api_mapping.get(method, method)
        action = f"{client.meta.service_model.service_name}:{operation}"
        try:
            response: dict[str, Any] = getattr(client, method)(**kwargs)
        except ClientError as error:
            explained = explain_client_error(error, action)
            if explained:
                raise CannotVerify(explained) from None
            raise
        except BotoCoreError as error:
            explained = explain_botocore_error(error, action)
            if explained:
                raise CannotVerify(explained) from None
            raise
        return response

    def pages(self, service: str, method: str, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every item of ``response[key]`` over ``NextToken`` pages."""
        token: str | None = None
        while True:
            response = self.call(
                service, method, **kwargs, **({"NextToken": token} if token else {})
            )
            yield from response.get(key, [])
            token = response.get("NextToken")
            if not token:
                return
