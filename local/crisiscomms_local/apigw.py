"""API Gateway REST proxy events, as API Gateway builds them, for calling the API handler in-process."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs

from crisiscomms.api import DEV_IDENTITY_HEADER


def rest_event(method: str, path: str, *, body: Any = None, query: str = "", user: str | None = None,
               groups: list[str] | None = None, headers: dict[str, str] | None = None,
               dev_header: str | None = None) -> dict[str, Any]:
    """A REST (v1) proxy event; `user`/`groups` become Cognito authorizer claims as API Gateway passes them."""
    raw = body if isinstance(body, str) or body is None else json.dumps(body, ensure_ascii=False)
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    if dev_header:
        all_headers[DEV_IDENTITY_HEADER] = dev_header
    params = {k: v for k, v in parse_qs(query, keep_blank_values=True).items()}
    claims = None
    if user:
        claims = {"cognito:username": user, "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, user)),
                  "cognito:groups": ",".join(groups or [])}
    now = datetime.now(timezone.utc)
    return {
        "resource": path, "path": path, "httpMethod": method.upper(),
        "headers": all_headers, "multiValueHeaders": {k: [v] for k, v in all_headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in params.items()} or None,
        "multiValueQueryStringParameters": params or None,
        "pathParameters": None, "stageVariables": None,
        "requestContext": {
            "resourcePath": path, "httpMethod": method.upper(), "path": f"/prod{path}", "stage": "prod",
            "requestId": str(uuid.uuid4()), "accountId": "123456789012", "apiId": "local",
            "requestTimeEpoch": int(now.timestamp() * 1000), "protocol": "HTTP/1.1",
            "identity": {"sourceIp": "127.0.0.1", "userAgent": "local"},
            "authorizer": {"claims": claims} if claims else None,
        },
        "body": raw, "isBase64Encoded": False,
    }
