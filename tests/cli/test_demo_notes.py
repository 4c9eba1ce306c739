"""The demo's note lines for the handler's decisions (no AWS: a stand-in handler)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from fleetctl.demo.loop import _invoke_handler, _Minute


def test_each_sample_s_decisions_get_a_note_line_at_its_second() -> None:
    # GIVEN an invocation whose first sample started AI from zero and whose sample at
    # 0:30 scaled Video out
    when = datetime(2026, 1, 5, tzinfo=UTC)
    record = {
        "samples": [
            {
                "timestamp": "2026-01-05T00:00:00+00:00",
                "video": {"action": "unchanged", "reason": "unchanged at 0"},
                "activation": {
                    "AI": {"desired": 3, "reason": "activate to 3: backlog 45 ...", "applied": True}
                },
            },
            {
                "timestamp": "2026-01-05T00:00:30+00:00",
                "video": {"action": "scale_out", "reason": "scale out to 2: ..."},
                "activation": {},
            },
        ]
    }
    handler = SimpleNamespace(
        invoke=lambda _event, on_sleep=None: SimpleNamespace(ok=True, result=record)
    )
    loop: Any = SimpleNamespace(
        outputs=SimpleNamespace(region="ap-northeast-2", schedule_rule_name="rule"),
        context=SimpleNamespace(problems=[]),
    )
    minute = _Minute(loop, 1, when)
    # WHEN the demo invokes the handler for the minute
    _invoke_handler(loop, handler, minute)  # type: ignore[arg-type]
    # THEN both decisions are note lines, each at its sample's second
    assert minute.sorted_notes() == [
        ":00 AI: Lambda activate to 3: backlog 45 ...",
        ":30 Video: Lambda scale_out: scale out to 2: ...",
    ]
