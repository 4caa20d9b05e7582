"""render(job) -> Rendered: the one pure, synchronous entry point (CLI, batch, server, tests)."""

from __future__ import annotations

from .vips import setup_vips

# Fontconfig must be pointed at the shipped fonts before libvips first lays out text.
setup_vips()

from .memo import RenderMemo  # noqa: E402
from .pipeline import OutputLimits, Rendered, RenderJob, run  # noqa: E402


def render(job: RenderJob, memo: RenderMemo | None = None) -> Rendered:
    """Render and encode one image; never awaits, never touches the response cache."""
    return run(job, memo if memo is not None else RenderMemo(max_bytes=0))


__all__ = ["OutputLimits", "RenderJob", "RenderMemo", "Rendered", "render"]
