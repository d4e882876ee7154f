"""The seed's events, POSTed to each PROVISIONER_WEBHOOK_URLS endpoint, signed and retried.

Each endpoint has its own queue and delivery thread: the service's handler only enqueues, so a
slow or dead receiver never holds up provisioning, and one endpoint's retries don't delay another.
Events reach an endpoint in the order they happened.

Every POST carries:
- `X-Provisioner-Event`: the event name (`instance:ready`, ...)
- `X-Provisioner-Delivery`: an id, the same on every retry of one delivery (dedupe on it)
- `X-Provisioner-Timestamp`: Unix seconds when this attempt was signed
- `X-Provisioner-Signature`: `sha256=` + hex HMAC-SHA256, keyed with PROVISIONER_WEBHOOK_SECRET,
  of `<timestamp>.<raw body>`. Receivers recompute it, compare in constant time, and reject
  timestamps older than a few minutes (replays). Without a secret, nothing is signed.

Connection errors, timeouts, 408, 429 and 5xx are retried with exponential backoff; other 4xx are
not (the receiver refused it). A delivery that gives up is logged with its id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Provisioner-Signature"
TIMESTAMP_HEADER = "X-Provisioner-Timestamp"
EVENT_HEADER = "X-Provisioner-Event"
DELIVERY_HEADER = "X-Provisioner-Delivery"
RETRY_STATUSES = frozenset({408, 429})
QUEUE_SIZE = 10_000


class _RetryableError(Exception):
    pass


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str,
    body: bytes,
    timestamp: str,
    signature: str,
    *,
    tolerance_seconds: int = 300,
    now: float | None = None,
) -> bool:
    """What a receiver does: constant-time compare, and refuse stale timestamps."""
    try:
        age = (time.time() if now is None else now) - int(timestamp)
    except ValueError:
        return False
    if abs(age) > tolerance_seconds:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


class _Endpoint:
    def __init__(self, sender: WebhookSender, url: str):
        self.sender = sender
        self.url = url
        self.queue: queue.Queue[tuple[str, str, dict[str, Any]] | None] = queue.Queue(QUEUE_SIZE)
        self.thread = threading.Thread(target=self._loop, name=f"webhook {url}", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            delivery_id, event, payload = item
            try:
                body = self.sender.body(delivery_id, event, payload)
                self.sender.deliver(self.url, delivery_id, event, body)
            except Exception:  # never let one bad delivery stop the thread
                log.exception("webhook %s to %s failed", delivery_id, self.url)


class WebhookSender:
    def __init__(
        self,
        urls: list[str],
        secret: str | None,
        *,
        attempts: int = 6,
        backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 60.0,
        timeout_seconds: float = 10.0,
        enrich: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ):
        self.secret = secret
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.enrich = enrich
        self.client = httpx.Client(timeout=timeout_seconds, follow_redirects=False)
        if not secret:
            log.warning("PROVISIONER_WEBHOOK_SECRET is not set: webhooks are sent unsigned")
        self.endpoints = [_Endpoint(self, url) for url in urls]

    def send(self, event: dict[str, Any]) -> None:
        """The service's "*" handler: enqueue and return at once."""
        payload = dict(event)
        name = str(payload.pop("type", "instance:event"))
        payload["occurredAt"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        delivery_id = "dlv-" + secrets.token_hex(8)
        for endpoint in self.endpoints:
            try:
                endpoint.queue.put_nowait((delivery_id, name, payload))
            except queue.Full:
                log.error("webhook queue for %s is full; dropped %s", endpoint.url, delivery_id)

    def body(self, delivery_id: str, event: str, payload: dict[str, Any]) -> bytes:
        """The JSON body, with the instance's details added (on the delivery thread)."""
        if self.enrich is not None:
            try:
                payload = self.enrich(payload)
            except Exception:
                log.exception("could not add instance details to webhook %s", delivery_id)
        document = {"event": event, "deliveryId": delivery_id, **payload}
        return json.dumps(document, separators=(",", ":"), default=str).encode()

    def deliver(self, url: str, delivery_id: str, event: str, body: bytes) -> bool:
        """POST one event, retrying with backoff; True once a 2xx came back."""
        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=self.backoff_seconds, max=self.max_backoff_seconds),
            retry=retry_if_exception_type(_RetryableError),
            reraise=False,
        )
        try:
            for attempt in retrying:
                with attempt:
                    self._post(url, delivery_id, event, body, attempt.retry_state.attempt_number)
        except RetryError:
            log.error(
                "webhook %s (%s) to %s failed after %d attempts; giving up",
                delivery_id,
                event,
                url,
                self.attempts,
            )
            return False
        except _RefusedError:
            return False
        return True

    def _post(self, url: str, delivery_id: str, event: str, body: bytes, attempt: int) -> None:
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "provisioner-webhooks/1",
            EVENT_HEADER: event,
            DELIVERY_HEADER: delivery_id,
            TIMESTAMP_HEADER: timestamp,
        }
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(self.secret, timestamp, body)
        try:
            response = self.client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            log.warning("webhook %s to %s, attempt %d: %s", delivery_id, url, attempt, exc)
            raise _RetryableError(str(exc)) from exc
        status = response.status_code
        if 200 <= status < 300:
            return
        if status >= 500 or status in RETRY_STATUSES:
            log.warning("webhook %s to %s, attempt %d: HTTP %d", delivery_id, url, attempt, status)
            raise _RetryableError(f"HTTP {status}")
        log.error("webhook %s to %s refused with HTTP %d; not retried", delivery_id, url, status)
        raise _RefusedError(f"HTTP {status}")

    def close(self, timeout: float = 30.0) -> None:
        """Deliver what is queued (bounded by `timeout` per endpoint), then stop."""
        for endpoint in self.endpoints:
            endpoint.queue.put(None)
        for endpoint in self.endpoints:
            endpoint.thread.join(timeout)
        self.client.close()


class _RefusedError(Exception):
    pass
