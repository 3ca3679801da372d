"""An SQS batch processor that handles its records concurrently.

Deliveries to different channels are independent network waits; handling a batch of ten one
after another would make the slowest channel wait for all the others. Each record still
succeeds or fails on its own, so partial batch failure reporting is unchanged.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from aws_lambda_powertools.utilities.batch import BatchProcessor

MAX_WORKERS = 10  # an SQS batch holds at most 10 records


class ConcurrentBatchProcessor(BatchProcessor):
    def process(self) -> list[tuple]:
        if len(self.records) <= 1:
            return super().process()
        with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(self.records))) as pool:
            return list(pool.map(self._process_record, self.records))
