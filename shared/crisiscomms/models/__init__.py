"""Data contracts shared by every layer: posts, audit entries, deliveries.

Owns plain records and the rules that define them (identity keys, hashing); imports only
`crisiscomms.errors` and the standard library, pydantic included.
"""
from crisiscomms.models.posts import Platform, Post, ScoredPost, SourceType, minute_key, stable_id

__all__ = ["Platform", "Post", "ScoredPost", "SourceType", "minute_key", "stable_id"]
