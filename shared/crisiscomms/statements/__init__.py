"""Statements: the rules, the desk's use cases, the one renderer, the publisher, channel rules and limits.

Owns `rules` (request models and state rules), `desk` (draft, edit, approve, publish, correct),
`render` (the channels configuration and the one renderer both the Desk and the Publisher use),
`publisher` (one delivery, exactly once), `channel_rules` (how each platform counts), `holding`
(statements from approved holding templates, their approval carried over) and `qa` (Q&A entries
for the newsroom's Q&A page). May
import `aws` (the statement repository it is handed), models, identity, errors and
observability; channel adapters reach it only through the `models.delivery` contract.
"""
