"""The demo's note lines for the handler's decisions (no AWS: a stand-in handler)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from fleetctl.demo.loop import _invoke_handler


def test_an_activation_from_zero_gets_a_note_line_like_a_video_action() -> None:
    # GIVEN a tick record in which the Lambda started AI from zero and scaled Video out
    record = {
        "video": {"action": "scale_out", "reason": "scale out to 2: ..."},
        "activation": {
            "AI": {"desired": 3, "reason": "activate to 3: backlog 45 ...", "applied": True}
        },
    }
    handler = SimpleNamespace(invoke=lambda _event: SimpleNamespace(ok=True, result=record))
    loop: Any = SimpleNamespace(
        outputs=SimpleNamespace(region="ap-northeast-2", schedule_rule_name="rule"),
        context=SimpleNamespace(problems=[]),
    )
    # WHEN the demo invokes the handler for a tick
    _, notes = _invoke_handler(loop, handler, 1, datetime(2026, 1, 5, tzinfo=UTC))  # type: ignore[arg-type]
    # THEN both decisions are on the tick's note lines
    assert notes == [
        "Video: Lambda scale_out: scale out to 2: ...",
        "AI: Lambda activate to 3: backlog 45 ...",
    ]
