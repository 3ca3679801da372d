"""Handing a recorded request to the function that acts on it, through its queue.

The API records first (a reply, a report, an export, a publish) and queues after. When the queue does not
take the message, the answer is NotHandedOver (503 with Retry-After) and the record stays; the same
request sent again finds it (`request_id`: the id is drawn from who asked for what) and hands it over,
so nothing is made twice and nothing waits for a message that never comes.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

from crisiscomms.errors import NotHandedOver
from crisiscomms.observability import count, logger


def request_id(prefix: str, *parts: Any) -> str:
    """`prefix` and 16 hex digits drawn from `parts` (who asked, and for what): the same request, the same id."""
    seed = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return f"{prefix}{hashlib.sha256(seed.encode('utf-8')).hexdigest()[:16]}"


def hand_over(send: Callable[[], Sequence[str] | None], *, what: str, to: str, metric: str,
              outage_refuses: bool = True) -> None:
    """Run `send` (it returns the ids the queue refused, or nothing); any refused is NotHandedOver naming `what`
    and the function it was for. With `outage_refuses`, a queue that does not answer at all is one too;
    without, its error is raised as it is (the API's 503 for AWS not answering)."""
    try:
        refused = send() or ()
    except Exception as exc:  # noqa: BLE001 - any failure to queue leaves the same outcome: not handed over
        if not outage_refuses:
            raise
        logger.warning("could not queue", extra={"what": what, "error": str(exc)})
        refused = (what,)
    if refused:
        count(metric, len(refused))
        raise NotHandedOver(f"{what} is recorded, but the queue to the {to} did not take it; send the same request "
                            "again to hand it over")
