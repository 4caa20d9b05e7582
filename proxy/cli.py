"""`picstream`: thin commands that parse arguments, call the library and map errors to exits."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import formats
from .config import Settings, load_settings
from .errors import ConfigError, ProxyError, TemplateError, TooLarge
from .template.registry import Registry

EXIT_USAGE = 2
EXIT_INPUT = 3      # bad value, unknown template (a 4xx on the web)
EXIT_FAILED = 4     # upstream, timeout (a 5xx on the web)


def _exit_code(error: ProxyError) -> int:
    return EXIT_INPUT if error.status < 500 else EXIT_FAILED


def add_output_arguments(parser: argparse.ArgumentParser, choices: Sequence[str],
                         default: str | None) -> None:
    """The output flags of every command that makes an image or its URL (render, sign, batch)."""
    parser.add_argument("--format", choices=choices, default=default)
    parser.add_argument("--width", type=int)
    parser.add_argument("--height", type=int)
    parser.add_argument("--quality", type=int)
    parser.add_argument("--dpr", type=float)


def output_options(args: argparse.Namespace) -> dict[str, object]:
    """The CLI's adapter onto the builder (proxy/request.py): the output flags by URL name."""
    return {"w": args.width, "h": args.height, "q": args.quality, "dpr": args.dpr}


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


# Read from the working directory when no -c is given, so a project made by `picstream init`
# runs with a bare `picstream serve` (as ruff.toml or .prettierrc are found).
LOCAL_CONFIG = "picstream.toml"


def _config_files(args: argparse.Namespace) -> list[Path]:
    if args.config:
        return [Path(c) for c in args.config]
    return [Path(LOCAL_CONFIG)] if Path(LOCAL_CONFIG).is_file() else []


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(_config_files(args))
    _use_fonts(settings)
    return settings


def _use_fonts(settings: Settings) -> None:
    """Point fontconfig at `templates.fonts_dir` before anything lays out text."""
    import os

    from .render.vips import FONTS_DIR_ENV

    os.environ[FONTS_DIR_ENV] = settings.templates.fonts_dir  # spawned workers inherit it
    from .render.vips import setup_vips

    setup_vips()


def _registry(settings: Settings, *, warn: bool = True) -> Registry:
    """The templates; a file that does not load is a warning, and the others still work."""
    from .render.fontcheck import font_ok
    from .template.registry import Registry

    registry = Registry(Path(settings.templates.dir), font_ok=font_ok)
    if warn:
        for message in sorted(registry.errors.values()):
            print(f"picstream: warning: skipping a template that does not load: {message}",
                  file=sys.stderr)
    return registry


def cmd_render(args: argparse.Namespace) -> int:
    """Render one image offline, to a file."""
    from .atomic import write_atomic
    from .render import OutputLimits, RenderJob, render
    from .request import build
    from .sources.resolve import resolve_offline

    settings = _settings(args)
    suffix = Path(args.output).suffix or ".png"
    found = formats.find(args.format) if args.format else formats.from_filename(suffix)
    if found is None:
        extensions = ", ".join("." + f.extension for f in formats.ALL)
        print(f"picstream: cannot write {suffix.lstrip('.')!r} ({args.output}): name the file "
              f"{extensions}, or pass --format", file=sys.stderr)
        return EXIT_USAGE
    fmt = found.name
    template = _registry(settings).get(args.template)
    # The checks of a URL with these values: what renders here renders on the server.
    checked = build(template, _pairs(args.values), output_options(args), fmt, settings.limits)
    images = resolve_offline(settings, template, checked.values)
    job = RenderJob(template=template, values=checked.values,
                    output=checked.spec.output_options(fmt), images=images,
                    limits=OutputLimits(settings.limits.max_output_side,
                                        settings.limits.max_output_pixels),
                    explain=args.explain)
    rendered = render(job)
    out = Path(args.output)
    write_atomic(out, rendered.data)
    print(f"{out}: {rendered.width}x{rendered.height} {rendered.format}, "
          f"{len(rendered.data)} bytes, {rendered.render_ms:.1f} ms", file=sys.stderr)
    if args.explain:
        for fit in rendered.fits:
            print(f"  layers[{fit.layer_index}]{fit.part}: size {fit.size:g}px, "
                  f"{fit.lines} line(s), {'cut with ellipsis' if fit.cut else 'fits'}",
                  file=sys.stderr)
    return 0



def cmd_templates(args: argparse.Namespace) -> int:
    """List templates and their variables."""
    settings = _settings(args)
    templates = _registry(settings).all()
    if args.json:
        from .template.describe import describe_template

        print(json.dumps([describe_template(t) for t in templates], indent=2))
        return 0
    from .template.describe import plain_value

    for t in templates:
        print(f"{t.name}  {t.size[0]}x{t.size[1]}  version {t.version}")
        if t.description:
            print(f"  {t.description}")
        for var in t.variables.values():
            bits: list[str] = [var.type]
            if var.max_length:
                bits.append(f"max {var.max_length}")
            if var.min is not None or var.max is not None:
                low = "" if var.min is None else plain_value(var.min)
                high = "" if var.max is None else plain_value(var.max)
                bits.append(f"range {low}..{high}")
            if var.choices:
                bits.append("one of " + "|".join(var.choices))
            if var.required:
                bits.append("required")
            elif var.default is not None:
                bits.append(f"default {plain_value(var.default)}")
            elif var.fallback is not None:
                bits.append(f"fallback {var.fallback}")
            else:
                bits.append("optional")
            print(f"  {var.name:<16} {', '.join(bits)}")
    return 0


def _dev_settings(settings: Settings) -> Settings:
    """Development: a persistent generated key, console logs, playground and template reload."""
    from .config import replace
    from .urls import generate_key

    keys = settings.signing.keys
    if not keys:
        key_file = Path(settings.sources.data_dir) / "dev-signing-key"
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            key_file.write_text(generate_key() + "\n")
            key_file.chmod(0o600)
        keys = (key_file.read_text().strip(),)
    return replace(settings, signing={"keys": keys}, server={"log_format": "console",
                                                             "playground": True},
                   templates={"reload": True})


def _example_urls(settings: Settings) -> list[str]:
    """One URL per template being served: the shipped ones with sample values, others bare."""
    from .urls import sign_url

    base = settings.server.base_url
    keys = settings.signing.keys
    samples: dict[str, tuple[dict[str, str], dict[str, Any]]] = {
        "social-card": ({"name": "John Smith", "title": "Founder at PicStream", "badge": "New"},
                        {"fmt": "webp"}),
        "product-mockup-v2": ({"customerName": "Ada", "productColor": "#2563eb"},
                              {"fmt": "jpeg", "width": 540}),
        "email-header": ({"headline": "Your weekly digest", "name": "Grace"},
                         {"fmt": "png", "dpr": 2}),
    }
    urls = []
    registry = _registry(settings)
    for name in registry.names():
        values, options = samples.get(name, ({}, {"fmt": "png"}))
        # A template that needs a value we have no sample for (the photo template's source)
        # would print a URL that answers 400: name what it needs instead.
        missing = [var.name for var in registry.get(name).variables.values()
                   if var.required and var.name not in values]
        if missing:
            urls.append(f"({name}: sign it with {', '.join(missing)} set, e.g. "
                        f"`picstream sign --dev {name} {missing[0]}=...`)")
            continue
        urls.append(sign_url(name, values, keys=keys, base_url=base, **options))
    return urls


def cmd_serve(args: argparse.Namespace) -> int:
    """Start the HTTP server."""
    from .config import replace
    from .server import check_port, run_server

    settings = _settings(args)
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port),
                                   ("workers", args.workers)) if v is not None}
    if overrides:
        settings = replace(settings, server=overrides)
    if args.dev:
        settings = _dev_settings(settings)
    if not settings.signing.keys and not settings.signing.allow_unsafe:
        raise ConfigError("signing.keys (PICSTREAM_SIGNING_KEYS): no key configured; "
                          "run `picstream keygen` or start with --dev")
    if settings.server.playground and not settings.api.keys and not args.dev:
        # Without keys the playground signs any URL for anyone who reaches it.
        raise ConfigError("server.playground (PICSTREAM_SERVER_PLAYGROUND): needs api.keys "
                          "outside --dev")
    check_port(settings)
    _startup_check(settings)
    base = f"http://{settings.server.host}:{settings.server.port}"
    print(f"PicStream on {base} ({settings.server.workers} worker(s))", file=sys.stderr)
    if settings.server.playground:
        print(f"Playground: {base}/playground", file=sys.stderr)
    if settings.signing.keys:
        print("Try:", file=sys.stderr)
        for url in _example_urls(settings):
            print("  " + url, file=sys.stderr)
    sys.stderr.flush()
    run_server(settings)
    return 0


def _startup_check(settings: Settings) -> None:
    """Check every template at start (load, render with defaults) and say what is broken.

    A broken template is reported here, in the log, in /readyz and in the playground, and
    answers 503 `broken_template`; the others keep working (one user's typo must not take
    every template down).
    """
    from .check import check_all

    registry = _registry(settings, warn=False)
    for problem in check_all(registry, quick=True):
        if problem.severity == "error":
            print(f"picstream: warning: template problem: {problem}", file=sys.stderr)


def cmd_sign(args: argparse.Namespace) -> int:
    """Print a signed URL."""
    import time

    from .request import build
    from .urls import sign_srcset, signed_url

    settings = _settings(args)
    if args.dev:
        settings = _dev_settings(settings)  # the key `serve --dev` generated and uses
    if not settings.signing.keys:
        raise ConfigError("signing.keys (PICSTREAM_SIGNING_KEYS): no key configured "
                          "(or pass --dev to use the development server's key)")
    template = _registry(settings).get(args.template)
    expires = int(time.time() + args.expires) if args.expires else None
    version = template.version if args.pin else None
    # The server's own check: a value it would refuse is refused here, with its message.
    checked = build(template, _pairs(args.values),
                    {**output_options(args), "v": version, "exp": expires}, args.format,
                    settings.limits)
    base_url = args.base_url or settings.server.base_url
    url = signed_url(checked.spec, settings.signing.keys, base_url=base_url,
                     limits=settings.limits)
    if args.srcset:
        # Same options as the URL above; dpr comes from each srcset entry instead.
        url = sign_srcset(args.template, _pairs(args.values), keys=settings.signing.keys,
                          base_url=base_url, fmt=args.format, width=args.width,
                          height=args.height, quality=args.quality, version=version,
                          expires=expires, limits=settings.limits)
    print(url)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Validate templates and render them with defaults and worst-case values."""
    from .check import check_files, summarise_fits

    settings = _settings(args)
    folder = Path(args.templates_dir or settings.templates.dir)
    paths = []
    for item in args.templates or ():
        path = Path(item)
        paths.append(path if path.suffix == ".toml" else folder / f"{item}.toml")
    if not paths:
        paths = sorted(folder.glob("*.toml"))
    if not paths:
        raise ConfigError(f"templates.dir: no *.toml in {folder}")
    out_dir = Path(args.out) if args.out else None
    failed = False
    for report in check_files(paths, quick=args.quick, out_dir=out_dir):
        errors = [p for p in report.problems if p.severity == "error"]
        warnings = [p for p in report.problems if p.severity == "warning"]
        status = "error" if errors else "warning" if warnings else "ok"
        print(f"{report.file}: {status} ({report.renders} renders, "
              f"{report.elapsed_ms:.0f} ms)")
        for index, notes in summarise_fits(report).items():
            cells = "; ".join(f"{n.case} {n.size:g}px/{n.lines}{' CUT' if n.cut else ''}"
                              for n in notes)
            print(f"  layers[{index}]: {cells}")
        for problem in report.problems:
            print(f"  {problem.severity}: {problem}")
        if out_dir is not None and report.pictures:
            print(f"  pictures: {', '.join(str(p) for p in report.pictures)}")
        failed |= bool(errors) or (args.strict and bool(warnings))
    return 1 if failed else 0


def cmd_assets_add(args: argparse.Namespace) -> int:
    """Store image files in the asset store; print each `asset:ID`."""
    from .sources.assets import AssetStore
    from .sources.fetch import RASTER_FORMATS

    settings = _settings(args)
    store = AssetStore(Path(settings.sources.data_dir) / "assets",
                       max_bytes=settings.sources.assets_max_bytes)
    limits = settings.sources
    for name in args.files:
        data = Path(name).read_bytes()
        if len(data) > limits.max_bytes:
            raise TooLarge(f"{name}: larger than {limits.max_bytes} bytes")
        info = store.put(data, allowed=RASTER_FORMATS, max_pixels=limits.max_pixels,
                         max_frames=limits.max_frames)
        print(f"asset:{info.id}\t{info.fmt} {info.width}x{info.height} {info.bytes} bytes\t{name}")
    return 0


def cmd_keygen(args: argparse.Namespace) -> int:
    """Print a new signing key (or an API key and its config line)."""
    import hashlib

    from .urls import generate_key

    key = generate_key()
    if args.api:
        digest = hashlib.sha256(key.encode()).hexdigest()
        print(key)
        print(f"# add to [api] keys in your config (only the hash is stored):\n"
              f"# keys = [\"{args.name}:{digest}\"]", file=sys.stderr)
    else:
        print(key)
        print("# add to [signing] keys, newest first, or set PICSTREAM_SIGNING_KEYS",
              file=sys.stderr)
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    """Create a working project folder and say the two commands that run it."""
    import shlex

    from .scaffold import init_project

    # The unit runs the `picstream` beside this interpreter (the venv's), found by full path.
    beside = Path(sys.executable).parent / "picstream"
    project = init_project(Path(args.dir), port=args.port, nginx_port=args.nginx_port,
                           picstream=beside if beside.exists() else Path(sys.argv[0]).resolve())
    here = shlex.quote(str(project.root))
    print(f"Created {project.root}:\n"
          f"  picstream.toml          server, fresh signing key, API key (its hash)\n"
          f"  templates/example.toml  your first template: edit it\n"
          f"  nginx.conf              nginx in front, caching, on {project.nginx_url}\n"
          f"  picstream.service       a systemd unit for this folder\n"
          f"  .gitignore              keeps picstream.toml (keys) and caches out of git\n\n"
          f"API key (shown once, only its hash is stored): {project.api_key}\n\n"
          f"Run these two commands, each in its own terminal:")
    for command in project.commands:
        print(f"  cd {here} && {command}")
    print(f"\nThen mint a URL and open it:\n"
          f"  cd {here} && picstream sign example title='Hello, world'\n"
          f"Check the setup any time with `picstream doctor` (in {here}).")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    """Check config, keys, fonts, templates, the server, nginx and the clock."""
    from .doctor import run_checks

    findings = run_checks(_config_files(args))
    width = max(len(f.topic) for f in findings)
    for finding in findings:
        print(f"{finding.level.upper():<4}  {finding.topic:<{width}}  {finding.message}")
    failed = sum(f.level == "fail" for f in findings)
    warned = sum(f.level == "warn" for f in findings)
    print(f"\n{failed} problem(s), {warned} warning(s)" if failed or warned
          else "\nall good")
    return 1 if failed else 0


def cmd_config(args: argparse.Namespace) -> int:
    """Print the default config (TOML) or the README table (markdown)."""
    from .config_doc import defaults_toml, markdown_table

    print(markdown_table() if args.markdown else defaults_toml(), end="" if not args.markdown
          else "\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="picstream", description=__doc__)
    parser.add_argument("-c", "--config", action="append", metavar="FILE",
                        help="TOML config file (repeatable; default: ./picstream.toml if "
                             "present); PICSTREAM_* env overrides")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("render", help="render one image offline to a file")
    p.add_argument("template")
    p.add_argument("values", nargs="*", metavar="name=value")
    p.add_argument("-o", "--output", required=True)
    add_output_arguments(p, formats.SPELLINGS, None)
    p.add_argument("--explain", action="store_true",
                   help="draw layer boxes and report text fitting")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("serve", help="start the HTTP server")
    p.add_argument("--dev", action="store_true",
                   help="development: generated key, console logs, playground, reload")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--workers", type=int)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("sign", help="print a signed image URL")
    p.add_argument("template")
    p.add_argument("values", nargs="*", metavar="name=value")
    add_output_arguments(p, formats.URL_SPELLINGS, "png")
    p.add_argument("--pin", action="store_true",
                   help="pin the current template version (immutable caching)")
    p.add_argument("--expires", type=int, metavar="SECONDS", help="expire after SECONDS")
    p.add_argument("--base-url",
                   help="default: server.public_base_url, else this server's host:port")
    p.add_argument("--dev", action="store_true",
                   help="sign with the key `serve --dev` uses (data/dev-signing-key)")
    p.add_argument("--srcset", action="store_true",
                   help='print a srcset value "URL 1x, URL 2x" instead of one URL')
    p.set_defaults(func=cmd_sign)

    p = sub.add_parser("check", help="validate templates; render defaults and worst cases")
    p.add_argument("templates", nargs="*", metavar="TEMPLATE",
                   help="template names or .toml paths (default: every template)")
    p.add_argument("--out", metavar="DIR", help="write a PNG per template per case here")
    p.add_argument("--strict", action="store_true", help="cut text fails the check too")
    p.add_argument("--quick", action="store_true",
                   help="only what the server checks at start: validation and defaults")
    p.add_argument("--templates-dir", metavar="DIR", help="default: templates.dir")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("assets", help="manage uploaded images")
    assets = p.add_subparsers(dest="assets_command", required=True)
    p = assets.add_parser("add", help="store image files; prints asset:ID for each")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.set_defaults(func=cmd_assets_add)

    p = sub.add_parser("keygen", help="print a new signing key or API key")
    p.add_argument("--api", action="store_true", help="an API key and its config line")
    p.add_argument("--name", default="app", help="name of the API key")
    p.set_defaults(func=cmd_keygen)

    p = sub.add_parser("init", help="create a project folder: config, keys, template, nginx")
    p.add_argument("dir", metavar="DIR", help="a new or empty folder")
    p.add_argument("--port", type=int, default=8080, help="PicStream's port (default 8080)")
    p.add_argument("--nginx-port", type=int, default=8000,
                   help="nginx's port, the public one (default 8000)")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("doctor", help="check config, keys, fonts, templates, nginx and clock")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("config", help="print the default config or the README table")
    p.add_argument("--defaults", action="store_true", help="TOML of every default (default)")
    p.add_argument("--markdown", action="store_true", help="the README config table")
    p.set_defaults(func=cmd_config)

    p = sub.add_parser("templates", help="list templates and their variables")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_templates)

    from .batch_cli import add_batch_parser

    add_batch_parser(sub)
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
