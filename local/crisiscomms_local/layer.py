"""shared/requirements.txt is generated from pyproject.toml's runtime pins (the one place they live).

    python -m crisiscomms_local.layer --write   regenerate it
    python -m crisiscomms_local.layer           exit 1 when it is out of date
"""
from __future__ import annotations

import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYER_REQUIREMENTS = ROOT / "shared" / "requirements.txt"
HEADER = "# Generated from pyproject.toml [project].dependencies by `python3 tasks.py layer-requirements`; do not edit.\n"


def expected() -> str:
    pins = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    return HEADER + "".join(f"{pin}\n" for pin in pins)


def main(argv: list[str]) -> int:
    if "--write" in argv:
        LAYER_REQUIREMENTS.write_text(expected(), encoding="utf-8")
        return 0
    current = LAYER_REQUIREMENTS.read_text(encoding="utf-8") if LAYER_REQUIREMENTS.exists() else ""
    if current != expected():
        print(f"{LAYER_REQUIREMENTS.relative_to(ROOT)} is out of date: run `python3 tasks.py layer-requirements`")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
