"""The one exception hierarchy: a status, a code and a public message per error.

Modules raise these; `web/middleware.py` maps them to HTTP and `cli.py` to exit codes.
No aiohttp import here, so every layer can use them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .redact import redact_urls


class ProxyError(Exception):
    """Base of every error a client may see; `public` goes to the client, `detail` to logs."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal"

    def __init__(self, public: str, *, field: str | None = None, detail: str | None = None) -> None:
        super().__init__(public)
        self.public = public
        self.field = field
        # Details name source URLs, whose queries may carry presigned tokens: cut them here,
        # once, rather than at each of the places that log a detail.
        self.detail = redact_urls(detail) if detail else detail

    def to_json(self) -> dict[str, object]:
        """The JSON body a client gets; pinned by tests/web/test_error_shape.py."""
        body: dict[str, object] = {
            "ok": False,
            "status": self.status,
            "code": self.code,
            "error": self.public,
        }
        if self.field is not None:
            body["field"] = self.field
        return body


class BadRequest(ProxyError):
    """The request is malformed."""

    status = 400
    code = "bad_request"


class InvalidValue(BadRequest):
    """A variable or output option has a bad value; `field` names it."""

    code = "invalid_value"


class Unauthorized(ProxyError):
    """No API key was given."""

    status = 401
    code = "unauthorized"


class Forbidden(ProxyError):
    """The signature (or API key) does not verify."""

    status = 403
    code = "bad_signature"


class BadApiKey(Forbidden):
    """An API key was given but matches no configured hash."""

    code = "bad_api_key"


class OperatorOnly(Forbidden):
    """An operator view (/metrics, readiness details) asked for by someone else."""

    code = "operators_only"


class NotFound(ProxyError):
    """No such template (or asset, or batch)."""

    status = 404
    code = "unknown_template"


class UnknownBatch(NotFound):
    """No batch with this id (never created, or dropped after it finished)."""

    code = "unknown_batch"


class UnknownAsset(NotFound):
    """No asset with this id."""

    code = "unknown_asset"


class Expired(ProxyError):
    """The URL's `exp` is in the past."""

    status = 410
    code = "expired"


class TooLarge(ProxyError):
    """A body, image or output exceeds a configured limit."""

    status = 413
    code = "too_large"


class URITooLong(ProxyError):
    """The URL exceeds the configured length."""

    status = 414
    code = "uri_too_long"


class Unprocessable(ProxyError):
    """A JSON body is well-formed but a field is invalid (API only)."""

    status = 422
    code = "unprocessable"


@dataclass(frozen=True)
class FieldError:
    """One invalid field of a JSON body, named by its path (`variables.name`)."""

    field: str
    error: str

    def to_json(self) -> dict[str, str]:
        """As listed in a 422 body."""
        return {"field": self.field, "error": self.error}


class InvalidBody(Unprocessable):
    """A JSON body with one or more invalid fields; the 422 lists every one of them."""

    def __init__(self, errors: list[FieldError]) -> None:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{first.field}: {first.error}{more}", field=first.field)
        self.errors = errors

    def to_json(self) -> dict[str, object]:
        """The shared error shape plus `errors`: every invalid field."""
        body = super().to_json()
        body["errors"] = [e.to_json() for e in self.errors]
        return body


class BadSource(ProxyError):
    """A source is not an allowed image, or has too many pixels or frames."""

    status = 422
    code = "bad_source"


class UpstreamFailed(ProxyError):
    """A remote source could not be fetched (refused address, timeout, HTTP error)."""

    status = 502
    code = "upstream_failed"


class QuotaExceeded(ProxyError):
    """One API key has used up its share (renders per minute, batch items per hour)."""

    status = 429
    code = "quota_exceeded"

    def __init__(self, public: str, *, retry_after_s: int | None = None) -> None:
        super().__init__(public)
        self.retry_after_s = retry_after_s


class StoreFull(ProxyError):
    """The asset store reached its configured size."""

    status = 507
    code = "store_full"


class Overloaded(ProxyError):
    """The render queue is full; the client should retry later."""

    status = 503
    code = "overloaded"


class RenderTimeout(ProxyError):
    """A render exceeded its deadline."""

    status = 503
    code = "render_timeout"


class BrokenTemplate(ProxyError):
    """A template file exists but does not load; the reason is in /readyz and the log."""

    status = 503
    code = "broken_template"


class TemplateError(Exception):
    """A template file is invalid: raised at load/check time, never mapped to HTTP."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


class ConfigError(Exception):
    """A setting is invalid; the message names the TOML key and the env var."""
