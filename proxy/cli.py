"""`picstream`: thin commands that parse arguments, call the library and map errors to exits."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from .config import Settings, load_settings
from .errors import ConfigError, ProxyError, TemplateError

EXIT_USAGE = 2
EXIT_INPUT = 3      # bad value, unknown template (a 4xx on the web)
EXIT_FAILED = 4     # upstream, timeout (a 5xx on the web)


def _exit_code(error: ProxyError) -> int:
    return EXIT_INPUT if error.status < 500 else EXIT_FAILED


def _pairs(items: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise SystemExit(f"picstream: expected name=value, got {item!r}")
        if name in out:
            raise SystemExit(f"picstream: {name} given twice")
        out[name] = value
    return out


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config or ())


def _registry(settings: Settings):  # type: ignore[no-untyped-def]
    from .render.vips import font_ok
    from .template.registry import Registry

    return Registry(Path(settings.templates.dir), font_ok=font_ok)


def cmd_render(args: argparse.Namespace) -> int:
    """Render one image offline, to a file."""
    from .render import OutputLimits, RenderJob, render
    from .spec import OutputOptions
    from .template.values import coerce

    settings = _settings(args)
    template = _registry(settings).get(args.template)
    fmt = args.format or (Path(args.output).suffix.lstrip(".").lower() or "png")
    fmt = "jpeg" if fmt == "jpg" else fmt
    output = OutputOptions(format=fmt, width=args.width, height=args.height,
                           quality=args.quality, dpr=args.dpr)
    values = coerce(template, _pairs(args.values))
    images = _fetch_images(settings, template, values)
    job = RenderJob(template=template, values=values, output=output, images=images,
                    limits=OutputLimits(settings.limits.max_output_side,
                                        settings.limits.max_output_pixels),
                    explain=args.explain)
    rendered = render(job)
    out = Path(args.output)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_bytes(rendered.data)
    tmp.replace(out)
    print(f"{out}: {rendered.width}x{rendered.height} {rendered.format}, "
          f"{len(rendered.data)} bytes, {rendered.render_ms:.1f} ms", file=sys.stderr)
    if args.explain:
        for fit in rendered.fits:
            print(f"  layers[{fit.layer_index}]: size {fit.size:g}px, {fit.lines} line(s), "
                  f"{'cut with ellipsis' if fit.cut else 'fits'}", file=sys.stderr)
    return 0


def _fetch_images(settings: Settings, template, values) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    try:
        from .sources.resolve import resolve_offline
    except ImportError:
        return {}
    return resolve_offline(settings, template, values)


def cmd_templates(args: argparse.Namespace) -> int:
    """List templates and their variables."""
    settings = _settings(args)
    templates = _registry(settings).all()
    if args.json:
        from .template.describe import describe_template

        print(json.dumps([describe_template(t) for t in templates], indent=2))
        return 0
    for t in templates:
        print(f"{t.name}  {t.size[0]}x{t.size[1]}  version {t.version}")
        if t.description:
            print(f"  {t.description}")
        for var in t.variables.values():
            bits = [var.type]
            if var.max_length:
                bits.append(f"max {var.max_length}")
            if var.choices:
                bits.append("one of " + "|".join(var.choices))
            if var.required:
                bits.append("required")
            elif var.default is not None:
                bits.append(f"default {var.default!r}")
            print(f"  {var.name:<16} {', '.join(bits)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="picstream", description=__doc__)
    parser.add_argument("-c", "--config", action="append", metavar="FILE",
                        help="extra TOML config file (repeatable); PICSTREAM_* env overrides")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("render", help="render one image offline to a file")
    p.add_argument("template")
    p.add_argument("values", nargs="*", metavar="name=value")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--format", choices=("webp", "avif", "png", "jpeg", "jpg", "gif"))
    p.add_argument("--width", type=int)
    p.add_argument("--height", type=int)
    p.add_argument("--quality", type=int)
    p.add_argument("--dpr", type=float, default=1.0)
    p.add_argument("--explain", action="store_true",
                   help="draw layer boxes and report text fitting")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("templates", help="list templates and their variables")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_templates)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `picstream` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except ProxyError as exc:
        print(f"picstream: {exc.public}", file=sys.stderr)
        return _exit_code(exc)
    except (ConfigError, TemplateError) as exc:
        print(f"picstream: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
