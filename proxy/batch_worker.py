"""Render processes for offline batches: one template, one RenderMemo per process.

Threads share one interpreter, and about a third of a card's render is Python (layout, NumPy
blend, bookkeeping) that holds the GIL: two render threads on two cores measured 1.35x one
thread. Processes scale with the cores. Each worker loads the template itself, so a job
crossing the process boundary is only its values, its fetched images and its output path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .atomic import write_atomic
from .spec import OutputOptions


@dataclass(frozen=True)
class WorkerSetup:
    """What every worker process loads once."""

    templates_dir: str
    template: str
    max_output_side: int
    max_output_pixels: int
    vips_threads: int
    memo_max_bytes: int = 256 * 1024 * 1024
    vips_max_ops: int = 200
    vips_max_bytes: int = 64 * 1024 * 1024


@dataclass(frozen=True)
class WorkerJob:
    """One row, ready to render: raw values, fetched images, output options, target file."""

    values: dict[str, str]
    images: dict[str, bytes]
    output: OutputOptions
    path: str


class _Worker:
    """The process's template and memo; built by the pool's initializer."""

    def __init__(self, setup: WorkerSetup) -> None:
        import pyvips

        from .render import OutputLimits, RenderMemo
        from .render.fontcheck import font_ok
        from .render.vips import bound_vips_cache
        from .template.registry import Registry

        pyvips.concurrency_set(max(1, setup.vips_threads))  # type: ignore[attr-defined]
        bound_vips_cache(setup.vips_max_ops, setup.vips_max_bytes)
        self.template = Registry(Path(setup.templates_dir), font_ok=font_ok).get(setup.template)
        self.memo = RenderMemo(setup.memo_max_bytes)
        self.limits = OutputLimits(setup.max_output_side, setup.max_output_pixels)


# One per worker process, set by `init_worker` (the ProcessPoolExecutor initializer): a
# process-local slot, never touched in the parent.
_WORKER: list[_Worker] = []


def init_worker(setup: WorkerSetup) -> None:
    """ProcessPoolExecutor initializer: load the template and make the memo."""
    _WORKER[:] = [_Worker(setup)]


def render_chunk(jobs: list[WorkerJob]) -> list[BaseException | None]:
    """Render several rows in one call; each row's error (or None), in order.

    One call per row cost about 0.5 ms of pickling, pipes and event-loop work in the parent;
    chunks spread it over many rows.
    """
    results: list[BaseException | None] = []
    for job in jobs:
        try:
            render_to_file(job)
            results.append(None)
        except Exception as exc:  # reported per row by the parent
            results.append(exc)
    return results


def render_to_file(job: WorkerJob) -> None:
    """Render one row and write it atomically (temp file + rename)."""
    from .render import RenderJob, render
    from .template.values import coerce

    worker = _WORKER[0]
    values = coerce(worker.template, job.values)
    rendered = render(RenderJob(template=worker.template, values=values, output=job.output,
                                images=job.images, limits=worker.limits), worker.memo)
    # No fsync per file: a batch is re-run (resumed) after a crash, and fsync of 10,000 files
    # costs more than the renders; the rename still makes every file whole or absent.
    write_atomic(Path(job.path), rendered.data, fsync=False)
