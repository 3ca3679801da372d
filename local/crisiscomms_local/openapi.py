"""The desk API's OpenAPI document, generated from the resolver and kept in the repo.

    python -m crisiscomms_local.openapi --write   regenerate functions/api/openapi.json
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OPENAPI_PATH = ROOT / "functions" / "api" / "openapi.json"


def generated() -> str:
    from crisiscomms.api import openapi_document

    return json.dumps(openapi_document(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


if __name__ == "__main__":
    if "--write" in sys.argv:
        OPENAPI_PATH.write_text(generated(), encoding="utf-8")
    else:
        sys.exit(0 if OPENAPI_PATH.read_text(encoding="utf-8") == generated() else 1)
