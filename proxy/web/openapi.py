"""The OpenAPI 3.1 document of /v1, written by hand; tests/web/test_openapi.py keeps it true."""

from __future__ import annotations

from typing import Any

from .. import formats

_JSON = "application/json"
_ERROR_REASONS = {400: "Malformed request (not JSON)", 401: "No API key (or none configured)",
                  403: "Wrong API key", 404: "Not found", 413: "Body or batch too large",
                  422: "Invalid fields, each named in `errors`",
                  429: "This API key's quota is used up; see Retry-After",
                  503: "Overloaded; retry later"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(s): {"$ref": f"#/components/responses/E{s}"} for s in statuses}


_VALUE = {"type": ["string", "number", "boolean", "null"]}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["ok", "status", "code", "error"],
        "properties": {
            "ok": {"const": False},
            "status": {"type": "integer"},
            "code": {"type": "string"},
            "error": {"type": "string"},
            "field": {"type": "string"},
            "errors": {"type": "array", "items": _ref("FieldError")},
        },
    },
    "FieldError": {
        "type": "object",
        "required": ["field", "error"],
        "properties": {"field": {"type": "string", "examples": ["variables.name"]},
                       "error": {"type": "string"}},
    },
    "Output": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "format": {"enum": list(formats.SPELLINGS)},
            "width": {"type": "integer", "minimum": 1},
            "height": {"type": "integer", "minimum": 1},
            "quality": {"type": "integer", "minimum": 1, "maximum": 100},
            "dpr": {"type": "number", "minimum": 1, "maximum": 4},
        },
    },
    "Variables": {
        "type": "object",
        "description": "Template variables by name; null means not given (default applies).",
        "additionalProperties": _VALUE,
    },
    "RenderRequest": {
        "type": "object",
        "required": ["template"],
        "additionalProperties": False,
        "properties": {
            "template": {"type": "string", "examples": ["social-card"]},
            "variables": _ref("Variables"),
            "output": _ref("Output"),
        },
        "examples": [{"template": "social-card", "variables": {"name": "Ada"},
                      "output": {"format": "jpeg", "width": 600}}],
    },
    "RenderResult": {
        "type": "object",
        "required": ["url", "width", "height", "format", "bytes", "etag", "render_ms"],
        "properties": {
            "url": {"type": "string", "format": "uri",
                    "description": "Absolute signed URL pinning the template version (v)."},
            "width": {"type": "integer"},
            "height": {"type": "integer"},
            "format": {"type": "string"},
            "bytes": {"type": "integer"},
            "etag": {"type": "string"},
            "render_ms": {"type": "number"},
            "cache": {"enum": ["memory", "disk", "render"]},
            "version": {"type": "string"},
            "fallback": {"type": ["string", "null"]},
        },
    },
    "BatchRequest": {
        "type": "object",
        "required": ["template", "items"],
        "additionalProperties": False,
        "properties": {
            "template": {"type": "string"},
            "items": {
                "type": "array", "minItems": 1,
                "items": {"type": "object", "additionalProperties": False,
                          "properties": {"variables": _ref("Variables"),
                                         "output": _ref("Output")}},
            },
            "output": _ref("Output"),
            "prerender": {"type": "boolean", "default": False},
            "webhook_url": {
                "type": "string", "format": "uri",
                "description": "POSTed once when the batch finishes, signed with "
                               "`PicStream-Signature: t=<unix s>,v1=<hex HMAC-SHA256 of "
                               "\"<t>.<body>\">` (needs batch.webhook_secret)."},
        },
    },
    "BatchProgress": {
        "type": "object",
        "required": ["id", "state", "total", "done", "failed", "elapsed_s", "rate_per_s",
                     "errors"],
        "properties": {
            "id": {"type": "string"},
            "template": {"type": "string"},
            "version": {"type": "string"},
            "prerender": {"type": "boolean"},
            "state": {"enum": ["queued", "running", "done", "cancelled"]},
            "total": {"type": "integer"},
            "done": {"type": "integer"},
            "failed": {"type": "integer"},
            "elapsed_s": {"type": "number"},
            "rate_per_s": {"type": "number"},
            "eta_s": {"type": ["number", "null"]},
            "errors": {"type": "object", "description": "Reason by item index.",
                       "additionalProperties": {"type": "string"}},
            "webhook": {"enum": ["pending", "delivered", "failed"],
                        "description": "Only when the batch names a webhook_url."},
        },
    },
    "BatchCreated": {
        "allOf": [_ref("BatchProgress"), {
            "type": "object",
            "required": ["valid", "invalid", "status_url", "results_url", "items"],
            "properties": {
                "valid": {"type": "integer"},
                "invalid": {"type": "integer"},
                "status_url": {"type": "string"},
                "results_url": {"type": "string"},
                "zip_url": {"type": "string", "description": "Batches with prerender."},
                "items": {"type": "array", "items": {
                    "type": "object", "required": ["index", "ok"],
                    "properties": {"index": {"type": "integer"}, "ok": {"type": "boolean"},
                                   "url": {"type": "string"},
                                   "errors": {"type": "array", "items": _ref("FieldError")}},
                }},
            },
        }],
    },
    "BatchResultLine": {
        "type": "object",
        "required": ["index", "status", "url"],
        "properties": {
            "index": {"type": "integer"},
            "status": {"enum": ["pending", "rendered", "failed", "invalid", "minted"]},
            "url": {"type": ["string", "null"]},
            "error": {"type": "string"},
        },
    },
    "Variable": {
        "type": "object",
        "required": ["name", "type", "required", "default"],
        "properties": {
            "name": {"type": "string"},
            "type": {"enum": ["text", "color", "image", "number", "choice", "boolean"]},
            "required": {"type": "boolean"},
            "default": {},
            "description": {"type": ["string", "null"]},
            "max_length": {"type": "integer"},
            "min": {"type": "number"},
            "max": {"type": "number"},
            "choices": {"type": "array", "items": {"type": "string"}},
            "has_fallback": {"type": "boolean"},
            "allow_svg": {"type": "boolean"},
        },
    },
    "Template": {
        "type": "object",
        "required": ["name", "width", "height", "formats", "version", "variables", "preview"],
        "properties": {
            "name": {"type": "string"},
            "description": {"type": ["string", "null"]},
            "width": {"type": "integer"},
            "height": {"type": "integer"},
            "formats": {"type": "array", "items": {"type": "string"}},
            "version": {"type": "string"},
            "variables": {"type": "array", "items": _ref("Variable")},
            "preview": {"type": ["string", "null"],
                        "description": "Signed URL rendered with the defaults."},
        },
    },
    "TemplateList": {
        "type": "object",
        "required": ["templates"],
        "properties": {"templates": {"type": "array", "items": _ref("Template")}},
    },
    "Asset": {
        "type": "object",
        "required": ["id", "format", "width", "height", "bytes"],
        "properties": {
            "id": {"type": "string", "pattern": "^asset:[0-9a-f]{32}$"},
            "format": {"type": "string"},
            "width": {"type": "integer"},
            "height": {"type": "integer"},
            "bytes": {"type": "integer"},
        },
    },
}

_ID_PARAM = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
_IMAGE = {"image/*": {"schema": {"type": "string", "format": "binary"}}}

PATHS: dict[str, Any] = {
    "/v1/render": {"post": {
        "operationId": "render",
        "summary": "Render one image; answer its signed URL (or the image with Accept: image/*)",
        "parameters": [{"name": "image", "in": "query", "required": False,
                        "description": "1: answer the image itself",
                        "schema": {"enum": ["1", "0"]}}],
        "requestBody": {"required": True,
                        "content": {_JSON: {"schema": _ref("RenderRequest")}}},
        "responses": {"200": {"description": "Rendered (and cached)",
                              "content": {_JSON: {"schema": _ref("RenderResult")}, **_IMAGE}},
                      **_errors(400, 401, 403, 413, 422, 429, 503)},
    }},
    "/v1/batch": {"post": {
        "operationId": "createBatch",
        "summary": "Mint URLs for many variable sets; optionally prerender them",
        "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                        "description": "A retried POST with the same key (and API key) "
                                       "answers the batch the first one created",
                        "schema": {"type": "string", "minLength": 1, "maxLength": 255}}],
        "requestBody": {"required": True,
                        "content": {_JSON: {"schema": _ref("BatchRequest")}}},
        "responses": {"200": _json(_ref("BatchCreated"), "URLs minted (no prerender)"),
                      "202": _json(_ref("BatchCreated"), "URLs minted; prerendering"),
                      **_errors(400, 401, 403, 413, 422, 429, 503)},
    }},
    "/v1/batch/{id}": {"get": {
        "operationId": "getBatch",
        "summary": "Progress of a batch (any host answers when batches are in Redis)",
        "parameters": [_ID_PARAM],
        "responses": {"200": _json(_ref("BatchProgress"), "Progress"),
                      **_errors(401, 403, 404, 503)},
    }, "delete": {
        "operationId": "cancelBatch",
        "summary": "Cancel a running batch; what is rendered stays rendered",
        "parameters": [_ID_PARAM],
        "responses": {"200": _json(_ref("BatchProgress"), "Progress after cancelling"),
                      **_errors(401, 403, 404, 503)},
    }},
    "/v1/batch/{id}/results.zip": {"get": {
        "operationId": "getBatchZip",
        "summary": "Every rendered item's image as a streamed ZIP (`<index>.<format>`)",
        "parameters": [_ID_PARAM],
        "responses": {"200": {"description": "ZIP stream", "content": {
            "application/zip": {"schema": {"type": "string", "format": "binary"}}}},
            **_errors(400, 401, 403, 404, 503)},
    }},
    "/v1/batch/{id}/results": {"get": {
        "operationId": "getBatchResults",
        "summary": "One NDJSON line per item (BatchResultLine), in order",
        "parameters": [_ID_PARAM],
        "responses": {"200": {"description": "NDJSON stream", "content": {
            "application/x-ndjson": {"schema": _ref("BatchResultLine")}}},
            **_errors(401, 403, 404)},
    }},
    "/v1/templates": {"get": {
        "operationId": "listTemplates",
        "summary": "Every template: size, formats, version, variables, preview URL",
        "responses": {"200": _json(_ref("TemplateList"), "Templates"), **_errors(401, 403)},
    }},
    "/v1/templates/{name}": {"get": {
        "operationId": "getTemplate",
        "summary": "One template",
        "parameters": [{"name": "name", "in": "path", "required": True,
                        "schema": {"type": "string"}}],
        "responses": {"200": _json(_ref("Template"), "Template"), **_errors(401, 403, 404)},
    }},
    "/v1/assets": {"post": {
        "operationId": "uploadAsset",
        "summary": "Upload an image (raw body or multipart `file`); idempotent by content",
        "requestBody": {"required": True, "content": {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "multipart/form-data": {"schema": {
                "type": "object", "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary"}}}},
        }},
        "responses": {"200": _json(_ref("Asset"), "Already stored"),
                      "201": _json(_ref("Asset"), "Stored"),
                      **_errors(400, 401, 403, 413, 422)},
    }},
    "/v1/assets/{id}": {"get": {
        "operationId": "getAsset",
        "summary": "Asset info, or its bytes with raw=1",
        "parameters": [_ID_PARAM, {"name": "raw", "in": "query", "required": False,
                                   "schema": {"enum": ["1", "0"]}}],
        "responses": {"200": {"description": "Info (or bytes with raw=1)",
                              "content": {_JSON: {"schema": _ref("Asset")}, **_IMAGE}},
                      **_errors(401, 403, 404)},
    }},
    "/v1/openapi.json": {"get": {
        "operationId": "openapi",
        "summary": "This document",
        "security": [],
        "responses": {"200": {"description": "OpenAPI 3.1",
                              "content": {_JSON: {"schema": {"type": "object"}}}}},
    }},
}


def openapi_document(server_url: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document, with `server_url` as its server."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "PicStream API",
            "version": "1",
            "description": (
                "Render personalised images from templates. Every operation except this "
                "document needs `Authorization: Bearer <key>`; keys are configured as "
                "sha256 hashes in `api.keys`. With no key configured the API answers 401."),
        },
        "servers": [{"url": server_url.rstrip("/") or "/"}],
        "security": [{"bearer": []}],
        "paths": PATHS,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": SCHEMAS,
            "responses": {f"E{status}": _json(_ref("Error"), reason)
                          for status, reason in _ERROR_REASONS.items()},
        },
    }
