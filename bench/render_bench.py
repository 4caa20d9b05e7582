"""Render cost per template and format against the floor: encoding the same pixels alone."""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyvips

import proxy.render  # noqa: F401  (fonts set up before text)
from proxy.render import RenderJob, RenderMemo, render
from proxy.render.deadline import Deadline
from proxy.render.encode import encode
from proxy.render.pipeline import STEPS, RenderState, encode_output
from proxy.spec import OutputOptions
from proxy.template.registry import Registry
from proxy.template.values import coerce

ROOT = Path(__file__).resolve().parent.parent
UNIQUE = {  # the variable that changes on every render (a name), as in real traffic
    "social-card": "name",
    "product-mockup-v2": "customerName",
    "email-header": "headline",
}
BASE = {
    "social-card": {"title": "Staff engineer at a company with a long name", "badge": "Pro"},
    "product-mockup-v2": {"productColor": "#2563eb"},
    "email-header": {"name": "Grace"},
}


def _job(registry: Registry, name: str, i: int, fmt: str) -> RenderJob:
    template = registry.get(name)
    values = dict(BASE[name])
    values[UNIQUE[name]] = f"Person Number {i}"
    return RenderJob(template=template, values=coerce(template, values),
                     output=OutputOptions(format=fmt))


def _canvas(job: RenderJob, memo: RenderMemo) -> pyvips.Image:
    state = RenderState(job=job, memo=memo, deadline=Deadline(None))
    for step in STEPS:
        if step is encode_output:
            break
        state = step(state)
    assert state.canvas is not None
    return state.canvas.copy_memory()


def render_table(runs: int = 40, formats: tuple[str, ...] = ("jpeg", "png", "webp", "avif")
                 ) -> list[dict[str, object]]:
    """Median render ms (one thread), floor ms, ratio, renders/s on all cores, bytes."""
    registry = Registry(ROOT / "templates")
    rows = []
    for name in UNIQUE:
        for fmt in formats:
            memo = RenderMemo()
            for i in range(3):  # warm the memo: static layers are drawn once per version
                render(_job(registry, name, -i - 1, fmt), memo)
            times, floors, sizes = [], [], []
            for i in range(runs):
                job = _job(registry, name, i, fmt)
                started = time.perf_counter()
                rendered = render(job, memo)
                times.append((time.perf_counter() - started) * 1000)
                sizes.append(len(rendered.data))
                canvas = _canvas(job, memo)
                started = time.perf_counter()
                encode(canvas, fmt, None)
                floors.append((time.perf_counter() - started) * 1000)
            throughput = _throughput(registry, name, fmt, max(runs * 2, 40))
            median, floor = statistics.median(times), statistics.median(floors)
            rows.append({"template": name, "format": fmt, "render_ms": median,
                         "floor_ms": floor, "ratio": median / floor,
                         "renders_per_s": throughput, "bytes": int(statistics.median(sizes))})
    return rows


def _throughput(registry: Registry, name: str, fmt: str, count: int, threads: int = 2) -> float:
    memo = RenderMemo()
    render(_job(registry, name, -1, fmt), memo)
    jobs = [_job(registry, name, i, fmt) for i in range(count)]
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda j: render(j, memo), jobs))
    return count / (time.perf_counter() - started)


def markdown(rows: list[dict[str, object]]) -> str:
    """The render table as markdown."""
    out = ["| template | format | render ms (1 thread, median) | floor ms (encode only) | "
           "render / floor | renders/s (2 threads, one process) | bytes |",
           "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r['template']} | {r['format']} | {r['render_ms']:.2f} | "
                   f"{r['floor_ms']:.2f} | {r['ratio']:.2f} | {r['renders_per_s']:.0f} | "
                   f"{r['bytes']:,} |")
    return "\n".join(out)


if __name__ == "__main__":
    print(markdown(render_table()))
