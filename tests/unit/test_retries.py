from __future__ import annotations

import pytest

from crisiscomms.adapters.http import with_retries
from crisiscomms.errors import PermanentPlatformError, TransientPlatformError


class _Flaky:
    def __init__(self, failures: int, error: Exception) -> None:
        self.calls, self._failures, self._error = 0, failures, error

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self._failures:
            raise self._error
        return "ok"


def test_transient_errors_are_retried_until_success() -> None:
    sleeps: list[float] = []
    call = _Flaky(2, TransientPlatformError("503"))
    assert with_retries(call, attempts=3, base_delay=1.0, sleep=sleeps.append) == "ok"
    assert call.calls == 3
    assert len(sleeps) == 2 and 0 <= sleeps[0] <= 1.0 and 0 <= sleeps[1] <= 2.0


def test_attempts_are_bounded() -> None:
    call = _Flaky(10, TransientPlatformError("timeout"))
    with pytest.raises(TransientPlatformError):
        with_retries(call, attempts=4, base_delay=0, sleep=lambda s: None)
    assert call.calls == 4


def test_permanent_errors_are_not_retried() -> None:
    call = _Flaky(10, PermanentPlatformError("401"))
    with pytest.raises(PermanentPlatformError):
        with_retries(call, attempts=5, base_delay=0, sleep=lambda s: None)
    assert call.calls == 1


def test_retry_callback_sees_each_retry() -> None:
    seen: list[int] = []
    with_retries(_Flaky(2, TransientPlatformError("x")), attempts=3, base_delay=0, sleep=lambda s: None,
                 on_retry=lambda attempt, exc: seen.append(attempt))
    assert seen == [1, 2]
