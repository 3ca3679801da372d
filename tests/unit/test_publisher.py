"""The Publisher renders one channel per delivery: a channel that cannot render fails that delivery alone."""
from __future__ import annotations

import copy
from datetime import datetime, timezone
from typing import Any

from crisiscomms.errors import Conflict
from crisiscomms.models.delivery import DeliveryRequest, DeliveryResult
from crisiscomms.statements.publisher import DeliveryMessage, Publisher
from crisiscomms.statements.render import ChannelsConfig, Renderer

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=timezone.utc)
SID = "st-0123456789abcdef"


class _Statements:
    """An in-memory statement repository with the same conditional moves as the DynamoDB one."""

    def __init__(self, statement: dict[str, Any]) -> None:
        self.statement = statement
        self.entries: list[Any] = []

    def load(self, statement_id: str) -> dict[str, Any]:
        return copy.deepcopy(self.statement)

    load_states = load

    def delivery(self, statement_id: str, key: str) -> dict[str, Any] | None:
        return next((copy.deepcopy(d) for d in self.statement["deliveries"] if d["key"] == key), None)

    def move_delivery(self, statement_id: str, key: str, *, expect: tuple[str, ...], updates: dict[str, Any],
                      entry: Any = None) -> bool:
        delivery = next(d for d in self.statement["deliveries"] if d["key"] == key)
        if delivery["state"] not in expect:
            return False
        delivery.update(updates)
        self.entries.append(entry)
        return True

    def change(self, statement: dict[str, Any], updates: dict[str, Any], entry: Any, **kwargs: Any) -> None:
        if statement.get("revision") != self.statement.get("revision"):
            raise Conflict("moved")
        self.statement.update(updates)
        self.statement["revision"] = self.statement.get("revision", 0) + 1
        self.entries.append(entry)


class _Channel:
    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.sent: list[DeliveryRequest] = []

    def publish(self, request: DeliveryRequest) -> DeliveryResult:
        self.sent.append(request)
        return DeliveryResult(platform_id=f"{self.channel}-1")

    def find(self, request: DeliveryRequest) -> DeliveryResult | None:
        return None


def _renderer() -> Renderer:
    return Renderer(ChannelsConfig.model_validate({
        "newsroom_base_url": "https://newsroom.bank.example",
        "channels": {"x": {"languages": ["en"]}, "telegram": {"languages": ["zh"]}},
    }))


def _statement(short: str) -> dict[str, Any]:
    renderer = _renderer()
    text = {"en": {"full": "Service restored at 15:00.", "short": "Service restored at 15:00."},
            "zh": {"full": "服务已于15时恢复。", "short": "服务已于15时恢复。"}}
    hashes = {k: r["sha256"] for k, r in renderer.render_all(SID, text, ["x", "telegram"], kind="statement",
                                                             title=None).items()}
    deliveries = [{"key": f"v0001#{c}#{lang}", "delivery_id": f"d-{c}", "statement_id": SID, "version": 1, "channel": c,
                   "language": lang, "state": "PENDING", "text_hash": hashes[f"{c}#{lang}"], "attempts": 0}
                  for c, lang in (("x", "en"), ("telegram", "zh"))]
    stored_text = {"en": {"full": text["en"]["full"], "short": short}, "zh": text["zh"]}
    return {"id": SID, "kind": "statement", "state": "PUBLISHING", "published_version": 1, "revision": 3,
            "versions": [{"version": 1, "text": stored_text}], "deliveries": deliveries}


def _publisher(repo: _Statements, adapters: dict[str, _Channel]) -> Publisher:
    return Publisher(repo, adapter_for=adapters.__getitem__, renderer=_renderer(), clock=lambda: NOW,  # type: ignore[arg-type]
                     max_attempts=3)


def test_each_delivery_publishes_its_own_channels_approved_rendering() -> None:
    repo = _Statements(_statement("Service restored at 15:00."))
    adapters = {"x": _Channel("x"), "telegram": _Channel("telegram")}
    publisher = _publisher(repo, adapters)
    for channel, lang in (("x", "en"), ("telegram", "zh")):
        assert publisher.deliver(DeliveryMessage(statement_id=SID, key=f"v0001#{channel}#{lang}",
                                                 delivery_id=f"d-{channel}"))["state"] == "SENT"
    assert adapters["x"].sent[0].text.startswith("Service restored at 15:00.\nhttps://newsroom.bank.example/")
    assert repo.statement["state"] == "PUBLISHED"


def test_a_channel_that_cannot_render_fails_alone() -> None:
    # The stored short text no longer fits X (a tampered or migrated record); Telegram's limit still holds.
    repo = _Statements(_statement("x" * 300))
    adapters = {"x": _Channel("x"), "telegram": _Channel("telegram")}
    publisher = _publisher(repo, adapters)
    x = publisher.deliver(DeliveryMessage(statement_id=SID, key="v0001#x#en", delivery_id="d-x"))
    assert x["state"] == "FAILED" and adapters["x"].sent == []
    failed = next(d for d in repo.statement["deliveries"] if d["channel"] == "x")
    assert "x (en)" in failed["error"] and "limit 280" in failed["error"]
    telegram = publisher.deliver(DeliveryMessage(statement_id=SID, key="v0001#telegram#zh", delivery_id="d-telegram"))
    assert telegram["state"] == "SENT" and adapters["telegram"].sent[0].text.startswith("服务已于15时恢复。")
    assert repo.statement["state"] == "PARTIAL"
