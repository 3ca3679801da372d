"""A closed alert's conclusion and the lesson it leaves: the shapes the desk writes and the report reads.

An alert is closed by a person with a conclusion: the cause and the lessons are required, what
worked and what to change are optional. The conclusion is stored on the alert item (AlertsTable,
`conclusion`) beside `state` = "CLOSED", `closed_at` and `closed_by`, and the same text goes
into the audit chain; a `Lesson` is that conclusion read back with the alert it concludes.
"""
from __future__ import annotations

import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

CLOSED = "CLOSED"
MAX_CONCLUSION_CHARS = 4000


def visible_text(value: str) -> str:
    """No control characters (other than newline and tab), no bidirectional overrides, not blank."""
    bad = next((ch for ch in value if (ord(ch) < 0x20 and ch not in "\n\t") or 0x7F <= ord(ch) <= 0x9F
                or "\u202a" <= ch <= "\u202e" or "\u2066" <= ch <= "\u2069"), None)
    if bad is not None:
        raise ValueError(f"must not contain the control character U+{ord(bad):04X}")
    if all(ch.isspace() or unicodedata.category(ch) in ("Cf", "Zs", "Zl", "Zp", "Cc") for ch in value):
        raise ValueError("must not be blank or only invisible characters")
    return value


ConclusionText = Annotated[str, Field(min_length=1, max_length=MAX_CONCLUSION_CHARS), AfterValidator(visible_text)]


class Conclusion(BaseModel):
    """Why the alert happened and what the team takes from it (the body of POST /alerts/{id}/close)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    cause: ConclusionText = Field(description="what caused the alert")
    lessons: ConclusionText = Field(description="what the team learned")
    worked: ConclusionText | None = Field(default=None, description="what worked")
    change: ConclusionText | None = Field(default=None, description="what to change next time")

    def stored(self) -> dict[str, Any]:
        """The form kept on the alert and in the audit entry: absent parts left out."""
        return self.model_dump(exclude_none=True)


class Lesson(BaseModel):
    """A closed alert's conclusion with the alert it concludes."""

    model_config = ConfigDict(frozen=True)

    alert_id: str
    topic: str
    level: str | None = Field(default=None, description="the alert's highest level")
    triggered_at: str
    resolved_at: str | None = None
    closed_at: str
    closed_by: str
    cause: str
    lessons: str
    worked: str | None = None
    change: str | None = None

    @classmethod
    def of(cls, alert: dict[str, Any]) -> Lesson:
        conclusion = alert.get("conclusion") or {}
        return cls(alert_id=alert["alert_id"], topic=alert["topic"], level=alert.get("level"),
                   triggered_at=alert["triggered_at"], resolved_at=alert.get("resolved_at"),
                   closed_at=alert["closed_at"], closed_by=alert["closed_by"], cause=conclusion["cause"],
                   lessons=conclusion["lessons"], worked=conclusion.get("worked"), change=conclusion.get("change"))
