"""Batch webhooks: one signed POST when a batch finishes, through the source-fetch guard.

The signature is Stripe's scheme: `PicStream-Signature: t=<unix seconds>,v1=<hex>` where
hex is HMAC-SHA256(batch.webhook_secret, "<t>." + raw body). The timestamp inside the MAC
lets a receiver refuse replays (README "Batch webhooks" has Python and Node checks).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from typing import Any

import aiohttp

from ..config import Settings
from ..errors import ProxyError
from ..sources.fetch import Fetcher, ForbiddenAddress
from .model import BatchInfo

log = logging.getLogger("picstream.batch")
SIGNATURE_HEADER = "PicStream-Signature"
DELIVERY_HEADER = "PicStream-Delivery"
# Receivers should refuse a signature older than this (the README's snippets do).
TOLERANCE_S = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The `PicStream-Signature` header value for `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, *, now: float | None = None,
           tolerance_s: float = TOLERANCE_S) -> bool:
    """Whether `header` signs `body` with `secret` within `tolerance_s` of `now`."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = signature(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def payload(info: BatchInfo, base_url: str) -> dict[str, Any]:
    """What the receiver gets: counts and where to fetch results."""
    base = f"{base_url.rstrip('/')}/v1/batch/{info.id}"
    links = {"status_url": base, "results_url": f"{base}/results"}
    if info.prerender:
        links["zip_url"] = f"{base}/results.zip"
    return {"type": f"batch.{info.state}", "id": info.id, "template": info.template,
            "state": info.state, "total": info.total, "done": info.done,
            "failed": info.failed, "finished_at": info.finished_at, **links}


def check_url(fetcher: Fetcher, url: str) -> str | None:
    """Why `url` may not receive webhooks (the source-fetch rules), or None."""
    try:
        fetcher.parse_url(url)
    except ProxyError as exc:
        return exc.public.replace("source ", "webhook ")
    return None


class WebhookSender:
    """Delivers webhooks with one guarded ClientSession; `start()`/`close()` pair it."""

    def __init__(self, settings: Settings, fetcher: Fetcher) -> None:
        self.settings = settings
        self.fetcher = fetcher
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Open the session (its connector dials only addresses the source guard allows)."""
        self._session = aiohttp.ClientSession(
            connector=self.fetcher.guarded_connector(limit=16, limit_per_host=2),
            trust_env=False, cookie_jar=aiohttp.DummyCookieJar(),
            headers={"User-Agent": "PicStream/0.1 (batch webhook)"})

    async def close(self) -> None:
        """Close the session."""
        if self._session is not None:
            await self._session.close()

    async def deliver(self, info: BatchInfo, attempt: int) -> bool | None:
        """POST once: True delivered, False retry later, None never (refused address)."""
        assert self._session is not None
        body = json.dumps(payload(info, self.settings.server.base_url),
                          separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json",
                   SIGNATURE_HEADER: signature(self.settings.batch.webhook_secret,
                                               int(time.time()), body),
                   DELIVERY_HEADER: f"{info.id}.{info.state}", "PicStream-Attempt": str(attempt)}
        fields = {"batch": info.id, "attempt": attempt}
        try:
            self.fetcher.parse_url(info.webhook_url)
            timeout = aiohttp.ClientTimeout(total=self.settings.batch.webhook_timeout_s)
            async with self._session.post(info.webhook_url, data=body, headers=headers,
                                          allow_redirects=False, timeout=timeout) as resp:
                await resp.read()
                ok = 200 <= resp.status < 300
                log.info("webhook %s", "delivered" if ok else "refused",
                         extra={"fields": {**fields, "status": resp.status}})
                return ok
        except ProxyError as exc:
            log.warning("webhook address refused", extra={"fields": {**fields,
                                                                     "error": exc.public}})
            return None
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, ForbiddenAddress):
                log.warning("webhook address refused",
                            extra={"fields": {**fields, "error": str(exc.os_error)}})
                return None
            log.info("webhook failed", extra={"fields": {**fields, "error": str(exc)}})
            return False
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.info("webhook failed",
                     extra={"fields": {**fields, "error": f"{type(exc).__name__}: {exc}"}})
            return False
