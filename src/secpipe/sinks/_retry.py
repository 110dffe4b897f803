"""Retrying AWS calls: exponential backoff with full jitter, one policy for every sink.

botocore's own retries are turned off in the sinks' clients so that every attempt is ours: we
can count calls, cap the total wait, and retry Security Hub's per-finding failures (which come
back in a 200 answer botocore would never retry) with the same schedule.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Callable

THROTTLING_CODES = frozenset({
    "TooManyRequestsException", "ThrottlingException", "Throttling", "ThrottledException",
    "LimitExceededException", "LimitExceeded", "RequestLimitExceeded", "SlowDown",
    "RequestThrottled", "RequestThrottledException", "ProvisionedThroughputExceededException",
})
TRANSIENT_CODES = frozenset({
    "InternalException", "InternalError", "InternalFailure", "InternalServerError",
    "ServiceUnavailable", "ServiceUnavailableException", "RequestTimeout",
    "RequestTimeoutException", "PriorRequestNotComplete",
})


@dataclass
class Backoff:
    """Full jitter (sleep uniformly in [0, min(cap, base * 2**attempt)]): spreads retries of many
    concurrent builds instead of having them hammer the API in lock-step."""

    max_attempts: int = 8
    base: float = 0.2
    cap: float = 20.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def delay(self, attempt: int) -> float:
        return self.rng.uniform(0.0, min(self.cap, self.base * (2 ** attempt)))

    def wait(self, attempt: int) -> float:
        seconds = self.delay(attempt)
        if seconds > 0:
            self.sleep(seconds)
        return seconds


def error_code(exc: BaseException) -> tuple[str, int | None]:
    """(error code, HTTP status) of a botocore ClientError, ('', None) for anything else."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return "", None
    code = str((response.get("Error") or {}).get("Code") or "")
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    return code, status if isinstance(status, int) else None


def is_retryable(exc: BaseException) -> bool:
    """Throttling (any spelling, or HTTP 429), 5xx, and connection-level failures."""
    try:
        from botocore.exceptions import (ConnectionClosedError, ConnectTimeoutError,
                                         EndpointConnectionError, ReadTimeoutError)
    except ImportError:  # pragma: no cover - boto3 is required by the sinks anyway
        return False
    if isinstance(exc, (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError,
                        ConnectTimeoutError)):
        return True
    code, status = error_code(exc)
    if code in THROTTLING_CODES or code in TRANSIENT_CODES:
        return True
    return status is not None and (status == 429 or status >= 500)


def is_retryable_code(code: str) -> bool:
    """A FailedFindings ErrorCode worth sending again (throttled or a server-side failure)."""
    lowered = code.lower()
    return (code in THROTTLING_CODES or code in TRANSIENT_CODES or "throttl" in lowered
            or "limitexceeded" in lowered or "toomanyrequests" in lowered
            or "internal" in lowered or "unavailable" in lowered or "timeout" in lowered)
