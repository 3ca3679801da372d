"""The desk roles, who is calling, and Cognito groups as OAuth scopes for API Gateway.

The four roles are defined here once.

A Cognito user-pool authorizer checks a token and, per route, its scopes, but not its groups. A
pre-token-generation trigger (V2) copies each desk group into the access token as the scope
`crisiscomms/<group>`; template.yaml lists the scopes each route accepts, and the handler checks
the groups again.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from crisiscomms.errors import Forbidden

AUTHOR, APPROVER, AUDITOR, ONCALL = "comms-author", "comms-approver", "auditor", "oncall"
DESK_GROUPS = (AUTHOR, APPROVER, AUDITOR, ONCALL)
SCOPE_PREFIX = "crisiscomms/"


class Identity(BaseModel):
    """Who is calling and which desk groups they belong to."""

    model_config = ConfigDict(frozen=True)

    user: str
    groups: frozenset[str]

    def require(self, *roles: str) -> None:
        if not self.groups & set(roles):
            raise Forbidden(f"{self.user} needs one of the groups {', '.join(roles)}")


def scopes_for_groups(groups: list[str] | None) -> list[str]:
    """One scope per known desk group, in a stable order; unknown groups grant nothing."""
    present = set(groups or [])
    return [f"{SCOPE_PREFIX}{g}" for g in DESK_GROUPS if g in present]


def add_group_scopes(event: dict[str, Any]) -> dict[str, Any]:
    """Answer a Cognito V2 pre-token-generation event with the group scopes added to the access token."""
    groups = (event.get("request", {}).get("groupConfiguration") or {}).get("groupsToOverride") or []
    event.setdefault("response", {})["claimsAndScopeOverrideDetails"] = {
        "accessTokenGeneration": {"scopesToAdd": scopes_for_groups(groups)},
    }
    return event
