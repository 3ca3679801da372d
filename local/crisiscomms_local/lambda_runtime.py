"""Calling the real handlers in-process with real event shapes (Lambda invoke needs Docker)."""
from __future__ import annotations

import importlib.util
import sys
import time
import warnings
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

# An invocation that records no business metric (a GET, an empty poll) is normal; powertools says so
# on stderr each time, which would bury the drill's and the local server's own output.
warnings.filterwarnings("ignore", message="No application metrics to publish")


@dataclass
class LambdaContext:
    """The attributes and method of the Lambda context object that handlers and powertools use."""

    function_name: str
    timeout_seconds: float = 60.0
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    _started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:eu-west-1:123456789012:function:{self.function_name}"

    @property
    def function_version(self) -> str:
        return "$LATEST"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self._started)) * 1000))


def load_handler_module(function_dir: str) -> ModuleType:
    """Import functions/<dir>/app.py under a unique module name, as Lambda would load it."""
    name = f"crisiscomms_function_{function_dir}"
    if name in sys.modules:
        return sys.modules[name]
    path = ROOT / "functions" / function_dir / "app.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader, f"cannot load {path}"
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def invoke(function_dir: str, event: dict[str, Any], *, timeout_seconds: float = 60.0) -> Any:
    module = load_handler_module(function_dir)
    return module.lambda_handler(event, LambdaContext(function_name=function_dir, timeout_seconds=timeout_seconds))
