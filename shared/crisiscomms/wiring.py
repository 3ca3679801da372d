"""Composition of the desk API and the Publisher from the environment, built once per process."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from crisiscomms import clock
from crisiscomms.aws.audit import AuditLog
from crisiscomms.aws.statements import StatementRepository
from crisiscomms.settings import get_desk_settings


@lru_cache(maxsize=1)
def audit_log() -> AuditLog:
    settings = get_desk_settings()
    return AuditLog(settings.audit_table, settings.state_table)


def statement_repository() -> StatementRepository:
    return StatementRepository(get_desk_settings().statements_table, audit_log())


def channels_config() -> Any:
    from crisiscomms.aws.parameters import load_document
    from crisiscomms.desk import ChannelsConfig

    settings = get_desk_settings()
    return load_document(settings.channels_config_parameter, ChannelsConfig, max_age=settings.config_max_age_seconds)


def build_desk() -> Any:
    from crisiscomms.aws.queue import enqueue
    from crisiscomms.desk import Desk

    settings = get_desk_settings()
    return Desk(statement_repository(), channels_config(), clock=clock.now,
                enqueue=lambda messages: enqueue(settings.delivery_queue_url, messages))


@lru_cache(maxsize=1)
def _publisher() -> Any:
    from crisiscomms.channels.factory import AdapterFactory
    from crisiscomms.publisher import Publisher

    settings = get_desk_settings()
    repo = statement_repository()
    desk = build_desk()
    factory = AdapterFactory(channels_config(), settings=settings, clock=clock.now)
    return Publisher(repo, adapter_for=factory.adapter, render=desk.render_version, clock=clock.now,
                     max_attempts=settings.max_delivery_attempts)


@lru_cache(maxsize=1)
def idempotency_config() -> Any:
    """Keyed on the delivery and its retry generation; kept a week, longer than any redelivery."""
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

    return IdempotencyConfig(event_key_jmespath="[delivery_id, to_string(generation)]", expires_after_seconds=7 * 24 * 3600)


@lru_cache(maxsize=1)
def _idempotent_deliver() -> Any:
    """deliver() wrapped in powertools idempotency."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, idempotent_function

    settings = get_desk_settings()
    config = idempotency_config()
    store = DynamoDBPersistenceLayer(table_name=settings.idempotency_table)

    @idempotent_function(data_keyword_argument="message", config=config, persistence_store=store)
    def deliver(message: dict[str, Any]) -> dict[str, Any]:
        from crisiscomms.publisher import DeliveryMessage

        return _publisher().deliver(DeliveryMessage.model_validate(message))

    return deliver


def deliver_record(body: str) -> dict[str, Any]:
    """One SQS message: validate it, then deliver exactly once."""
    import json

    from crisiscomms.publisher import DeliveryMessage

    message = DeliveryMessage.model_validate_json(body)
    return _idempotent_deliver()(message=json.loads(message.model_dump_json()))


def alert_repository() -> Any:
    from crisiscomms.aws.alerts import AlertRepository
    from crisiscomms.settings import get_detector_settings

    settings = get_detector_settings()
    return AlertRepository(settings.alerts_table, settings.state_table,
                           AuditLog(settings.audit_table, settings.state_table))


def run_detector() -> list[dict[str, Any]]:
    """One evaluation of every watched topic."""
    from crisiscomms.aws.alerts import publish_sms
    from crisiscomms.aws.parameters import load_watch_config
    from crisiscomms.aws.posts import PostRepository, PostTables
    from crisiscomms.detector import Detector
    from crisiscomms.settings import get_detector_settings

    settings = get_detector_settings()
    config = load_watch_config(settings.watch_config_parameter, max_age=settings.config_max_age_seconds)
    posts = PostRepository(PostTables(settings.posts_table, settings.topic_posts_table, settings.aggregates_table),
                           retention_days=1)
    detector = Detector(posts, alert_repository(), thresholds=config.detection, clock=clock.now, send_sms=publish_sms,
                        oncall_topic=settings.oncall_topic_arn, escalation_topic=settings.escalation_topic_arn)
    return detector.run(config.topics)


def verify_audit() -> dict[str, Any]:
    from crisiscomms.audit import verify_chain

    log = audit_log()
    return verify_chain(log.records(), log.head()).as_dict()


def reset() -> None:
    """Forget built objects (tests and drills switch environments)."""
    from crisiscomms.settings import get_detector_settings

    audit_log.cache_clear()
    get_desk_settings.cache_clear()
    get_detector_settings.cache_clear()
    _publisher.cache_clear()
    _idempotent_deliver.cache_clear()
    idempotency_config.cache_clear()
