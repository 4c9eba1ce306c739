"""The demo's console output: step headers with the elapsed time (``Progress``), and ``say``."""

from __future__ import annotations

import time

STEPS = 7
"""The demo's steps, numbered in its headers as ``n/STEPS``."""


class Progress:
    """Step headers with the elapsed wall time, and a log of step durations."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.durations: list[tuple[str, float]] = []
        self._step_started = self.started
        self._title = ""

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def step(self, number: int, title: str) -> None:
        self._finish()
        self._title = f"{number}/{STEPS} {title}"
        self._step_started = time.monotonic()
        say(f"\n[{self._title}]  (elapsed {self.elapsed():5.1f} s)")

    def _finish(self) -> None:
        if self._title:
            self.durations.append((self._title, time.monotonic() - self._step_started))
            self._title = ""

    def close(self) -> None:
        self._finish()


def say(line: str = "") -> None:
    print(line, flush=True)
