"""Python's cyclic garbage collector paused while a function loads and handles its first event.

A cold start allocates 75,000-95,000 objects that live as long as the process (modules, classes,
models, clients, tables) and almost no cyclic garbage (about 1,000 objects); with the collector on,
each young-generation pass walks the newest of them again and an old-generation pass walks them
all. So in Lambda (``AWS_LAMBDA_FUNCTION_NAME`` set) the collector is off from the first line of a
handler module until its first invocation ends; then what survived is moved out of its sight
(``gc.freeze``: the permanent generation, never walked again) and the collector is on as usual for
everything the warm invocations allocate. The cyclic garbage of the cold start (about 1,000 objects)
is kept for the life of the process. Elsewhere (tools, tests importing the package) nothing changes.
"""
from __future__ import annotations

import functools
import gc
import os
from collections.abc import Callable
from typing import Any, TypeVar

Handler = TypeVar("Handler", bound=Callable[..., Any])

_paused = False


def pause_collector() -> None:
    """Called at the first line of a handler module: off, in Lambda, when it is on."""
    global _paused
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME") and gc.isenabled():
        gc.disable()
        _paused = True


def resume_collector() -> None:
    """What the cold start left moved to the permanent generation, then the collector on again."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()


def after_first_invocation(handler: Handler) -> Handler:
    """The outermost decorator of a handler: resumes the collector when its first invocation ends,
    whether it returned or raised."""

    @functools.wraps(handler)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        finally:
            if _paused:
                resume_collector()

    return wrapper  # type: ignore[return-value]


pause_collector()
