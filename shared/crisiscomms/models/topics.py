"""A watched topic's id, as keys, queues, alert ids and routes carry it (and the watch configuration's
other ids): lower-case letters, digits and '-', starting with a letter or digit, at most 63 characters.
One pattern for every place that checks one."""
from __future__ import annotations

TOPIC_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
