#!/usr/bin/env python3
"""Project tasks that work on a fresh machine with nothing but Python 3.11+.

Every task first makes sure `.venv` holds exactly the versions pinned in pyproject.toml
(re-installing only when pyproject.toml changed), then runs inside it.

    python3 tasks.py drill [SCENARIO.json] [--json OUT.json] [--jobs N]
                                                               the crisis drill on local AWS
    python3 tasks.py test [PYTEST ARGS]                        the whole test suite
    python3 tasks.py bench                                     benchmarks (figures and ratios)
    python3 tasks.py evaluate                                  scoring accuracy against VADER
    python3 tasks.py serve [--port 8080]                       the desk API on 127.0.0.1 (local AWS, emulators;
                                                               queues and the Reviewer run in the background)
    python3 tasks.py openapi                                   regenerate functions/api/openapi.json
    python3 tasks.py layer-requirements                        regenerate shared/requirements.txt
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".pyproject.sha256"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")


def _pyproject_digest() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def ensure_venv() -> None:
    """Create or refresh the virtual environment when the pins changed."""
    if sys.version_info < (3, 11):
        sys.exit(f"Python 3.11+ is required, this is {sys.version.split()[0]}")
    digest = _pyproject_digest()
    if STAMP.exists() and STAMP.read_text().strip() == digest and PYTHON.exists():
        return
    if not PYTHON.exists():
        print("creating .venv", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    print("installing pinned dependencies into .venv (once per pyproject.toml change)", flush=True)
    subprocess.run(
        [str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "-e", f"{ROOT}[dev]"],
        check=True,
    )
    STAMP.write_text(digest)


def run_in_venv(*args: str) -> int:
    env = dict(os.environ)
    # Compiled modules (and pytest's assertion-rewritten test modules) are kept under .venv/, never beside
    # the sources: without a cache every process of the test command compiled them again (~3 s of CPU
    # per worker, before the first test).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(VENV / "pycache")
    return subprocess.run([str(PYTHON), *args], cwd=ROOT, env=env).returncode


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(__doc__)
        return 0
    task, rest = argv[0], argv[1:]
    ensure_venv()
    if task == "test":
        return run_in_venv("-m", "pytest", *rest)
    if task == "drill":
        return run_in_venv("-m", "crisiscomms_local.drill", *rest)
    if task == "bench":
        return run_in_venv("-m", "crisiscomms_local.bench", *rest)
    if task == "evaluate":
        return run_in_venv("-m", "crisiscomms_local.evaluate_scoring", *rest)
    if task == "openapi":
        return run_in_venv("-m", "crisiscomms_local.openapi", "--write")
    if task == "serve":
        return run_in_venv("-m", "crisiscomms_local.serve", *rest)
    if task == "layer-requirements":
        return run_in_venv("-m", "crisiscomms_local.layer", "--write")
    print(f"unknown task {task!r}\n{__doc__}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
