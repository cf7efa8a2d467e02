"""The Flask class engage runs on: Flask's own, with what never changes between requests
worked out once."""

from __future__ import annotations

import weakref
from inspect import iscoroutinefunction

from flask import Flask

from .request import EngageRequest


class EngageFlask(Flask):
    request_class = EngageRequest

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Weak keys: a function made for one request (after_this_request) is let go
        # with it; only whether it is a coroutine function is kept, never the function.
        self._is_async: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def ensure_sync(self, func):
        """Flask asks whether each hook and view is ``async def`` (inspect's question,
        nine times a save) on every request: the answer is remembered per function.
        Measured in-process with callgrind: 2.1% of a save's instructions."""
        try:
            is_async = self._is_async.get(func)
        except TypeError:  # a callable that cannot be weakly referenced or hashed
            return super().ensure_sync(func)
        if is_async is None:
            is_async = self._is_async[func] = iscoroutinefunction(func)
        return self.async_to_sync(func) if is_async else func
