"""Statements: the rules, the desk's use cases, the one renderer, the publisher, channel rules and limits.

Owns `rules` (request models and state rules), `desk` (draft, edit, approve, publish, correct),
`render` (the channels configuration and the one renderer both the Desk and the Publisher use),
`publisher` (one delivery, exactly once) and `channel_rules` (how each platform counts). May
import `aws` (the statement repository it is handed), models, identity, errors and
observability; channel adapters reach it only through the `models.delivery` contract.
"""
