"""The laptop's HTTP client for the hub: the standard library only, with bounded retries.

A time-out, a dropped connection or a 5xx/429 answer is tried again after a growing,
jittered pause (0.5 s, 1 s, 2 s … capped), a bounded number of times. A 4xx answer is
the hub refusing on purpose and is not retried. Either way the caller keeps the batch.
"""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.client import HTTPException

USER_AGENT = "engage-sync/1"
NOT_API = "the address does not answer as an engage hub (is it set up, and started with --hub?)"


class HubError(Exception):
    """The hub could not be reached, or answered with an error."""

    def __init__(self, message: str, *, status: int | None = None, reason: str = "",
                 answer: dict | None = None):
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.answer = answer or {}

    @property
    def retryable(self) -> bool:
        return self.status is None or self.status >= 500 or self.status == 429


class HubClient:
    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 60.0,
        attempts: int = 6,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        transport: Callable[..., tuple[int, bytes]] | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.sleep = sleep
        self.transport = transport  # (method, url, body, headers) -> (status, body): tests
        self.waits: list[float] = []  # the pauses taken, for the status page and tests

    def _once(self, method: str, path: str, body: bytes | None, content_type: str | None):
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.transport is not None:
            status, data = self.transport(method, self.base_url + path, body, headers)
            if 300 <= status < 400:
                raise HubError(NOT_API, status=421, reason="not-api")
            if status >= 400:
                answer = _json(data)
                raise HubError(answer.get("message") or f"the hub answered {status}",
                               status=status, reason=answer.get("error", ""), answer=answer)
            return status, _json(data)
        # The address is the hub's, checked to be http(s) when the laptop enrolled.
        request = urllib.request.Request(  # noqa: S310
            self.base_url + path, data=body, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                if response.headers.get_content_type() != "application/json":
                    raise HubError(NOT_API, status=421, reason="not-api")
                return response.status, _json(response.read())
        except urllib.error.HTTPError as error:
            answer = _json(error.read())
            raise HubError(
                answer.get("message") or f"the hub answered {error.code}",
                status=error.code,
                reason=answer.get("error", ""),
                answer=answer,
            ) from None
        except (urllib.error.URLError, TimeoutError, HTTPException, OSError) as error:
            reason = getattr(error, "reason", error)
            raise HubError(f"the hub could not be reached ({reason})") from None

    def request(self, method: str, path: str, body: bytes | None = None,
                content_type: str | None = None) -> dict:
        """Send, retrying what may succeed later; raise the last HubError otherwise."""
        for attempt in range(self.attempts):
            try:
                return self._once(method, path, body, content_type)[1]
            except HubError as error:
                if not error.retryable or attempt == self.attempts - 1:
                    raise
                wait = self.pause(attempt)
                self.waits.append(wait)
                self.sleep(wait)
        raise AssertionError("unreachable")

    def pause(self, attempt: int) -> float:
        """Exponential back-off with jitter, so twenty laptops do not retry in step."""
        ceiling = min(self.max_backoff, self.backoff * (2**attempt))
        return ceiling * (0.5 + random.random() / 2)  # noqa: S311 - not for secrets

    def get(self, path: str) -> dict:
        return self.request("GET", path)

    def post_json(self, path: str, data: dict) -> dict:
        return self.request("POST", path, json.dumps(data).encode(), "application/json")

    def post_frame(self, path: str, frame: bytes) -> dict:
        return self.request("POST", path, frame, "application/octet-stream")


def _json(data: bytes) -> dict:
    try:
        found = json.loads(data or b"{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}
