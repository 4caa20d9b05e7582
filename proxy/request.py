"""A render request checked against its template: the one check every front door makes.

`spec.parse_request` validates what a URL alone decides (names, options, sizes); this adds
what needs the template (the format offered, each value against its variable), so the GET
handler, `picstream sign` and the library refuse the same inputs with the same message.
"""

from __future__ import annotations

from .errors import InvalidValue
from .spec import RenderSpec
from .template.model import Template
from .template.values import Values, coerce


def check_request(template: Template, spec: RenderSpec, fmt: str | None) -> Values:
    """The typed values of `spec` for `template` (`fmt` resolved, or None for `auto`)."""
    if fmt is not None and fmt not in template.formats:
        raise InvalidValue(f"fmt: template {template.name} is not offered as {fmt}", field="fmt")
    return coerce(template, dict(spec.variables))
