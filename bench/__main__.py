"""`python -m bench`: every benchmark table, as markdown, for the README.

Options: --quick (fewer runs, 1,000 cards instead of 10,000), --skip-http (no wrk runs).
Needs Debian's `wrk` for the HTTP tables (and the real workload's live misses) and `nginx`
for the through-nginx row.
"""

from __future__ import annotations

import argparse
import time

from bench import (
    batch_bench,
    http_bench,
    layout_bench,
    real_workload,
    redis_batch_bench,
    render_bench,
    source_bench,
)


def main() -> None:
    """Print the render table, the batch headline and the HTTP table."""
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip-http", action="store_true")
    args = parser.parse_args()
    started = time.monotonic()

    print("### Render cost per template and format\n")
    rows = render_bench.render_table(runs=15 if args.quick else 40)
    print(render_bench.markdown(rows))

    print("\n### Flowed layouts and photo templates\n")
    print(layout_bench.markdown(layout_bench.card_rows(runs=60 if args.quick else 200)
                                + layout_bench.photo_rows(runs=8 if args.quick else 20)))

    count = 1000 if args.quick else 10_000
    print(f"\n### {count:,} unique social cards\n")
    api = None if args.skip_http else batch_bench.through_api(count)
    offline_batch = batch_bench.offline(count)
    print(batch_bench.markdown(offline_batch, api))

    if not args.skip_http:
        print(f"\n### {count:,} unique social cards through the API, batches in Redis\n")
        if redis_batch_bench.available():
            print(redis_batch_bench.markdown(
                [redis_batch_bench.run(count, hosts) for hosts in (1, 2)],
                offline_batch["per_s"]))
        else:
            print("(skipped: redis-server is not installed)")

    if not args.skip_http:
        print(f"\n### The real workload: {count:,} cards, each its own name, title and avatar\n")
        print(real_workload.markdown(real_workload.run(count, quick=args.quick)))

    if not args.skip_http:
        offline = next(r for r in rows if r["template"] == "social-card"
                       and r["format"] == "jpeg")["renders_per_s"]
        print("\n### HTTP: cache hits and misses against a ceiling\n")
        print(http_bench.markdown(http_bench.run(), float(offline)))  # type: ignore[arg-type]
        print("\n### Remote sources: a large photo, source cache cold and warm\n")
        print(source_bench.markdown(source_bench.run()))
    print(f"\n(bench took {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
