"""Listening: polling runs per source, cursors and leases, topic matching, ingest (match -> score -> store).

Owns `polling` (Listener, Ingestor, the schedule's input and the run report), `topics`
(which watched topics a post belongs to) and `watchlist` (posts read again for early warning). May import `scoring` (its package), `watch`, `aws`
(repositories it is handed), `adapters` (source clients it is handed), models, errors, clock and
observability; never `detection` or `statements`.
"""
