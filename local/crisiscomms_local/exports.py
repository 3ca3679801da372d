"""Auditors' exports on local AWS: the export queue drained through the real Exporter handler.

    run_queue(stack)      each message handed to the Exporter (batches of one, as the template's event
                          source), deleted once handled, made visible again at once when it failed
"""
from __future__ import annotations

from typing import Any

from crisiscomms_local.aws import Stack
from crisiscomms_local.sqs_lambda import drain

EXPORTER_TIMEOUT_SECONDS = 900  # template.yaml's ExporterFunction Timeout


def run_queue(stack: Stack, *, rounds: int = 10) -> list[dict[str, Any]]:
    """Hand each message of the export queue to the Exporter and delete those it handled, as the Lambda
    SQS integration does; returns each batch's answer. A failed message is made visible again at once,
    standing in for its visibility timeout."""
    return drain(stack, "ExportQueue", "exporter", timeout_seconds=EXPORTER_TIMEOUT_SECONDS, rounds=rounds)


__all__ = ["run_queue"]
