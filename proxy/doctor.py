"""`picstream doctor`: check a deployment and say what is wrong in plain words.

The checks run in order, as a list (STYLE.md rule 2); each returns findings and none raises.
Config comes first: without settings the others have nothing to look at.
"""

from __future__ import annotations

import email.utils
import os
import stat
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .config import Settings, load_settings
from .errors import ConfigError

Level = Literal["ok", "warn", "fail"]

# Keys printed in our docs and tests: anyone can sign URLs with them.
PUBLIC_KEYS = frozenset({"test-key-newest-0123456789abcdef", "test-key-older-0123456789abcdef"})
MIN_KEY_CHARS = 32          # `picstream keygen` makes 43; itsdangerous accepts anything
CLOCK_WARN_S = 5.0          # HTTP dates have one-second steps; beyond this `exp` links drift
CLOCK_FAIL_S = 60.0
HTTP_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Finding:
    """One line of the report: how bad, about what, and what to do."""

    level: Level
    topic: str
    message: str


@dataclass
class Probe:
    """What the checks share: the files read, the loaded settings, the answers seen."""

    files: Sequence[Path]
    environ: Mapping[str, str]
    now: Callable[[], float] = time.time
    settings: Settings | None = None
    server_date: str | None = None
    nginx_date: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


def check_config(probe: Probe) -> list[Finding]:
    """The config files and PICSTREAM_* variables load and validate."""
    try:
        probe.settings = load_settings(probe.files, probe.environ)
    except ConfigError as exc:
        return [Finding("fail", "config", f"{exc}")]
    names = ", ".join(str(f) for f in probe.files) or "no config file (defaults only)"
    env = sorted(k for k in probe.environ if k.startswith("PICSTREAM_"))
    extra = f" and {len(env)} PICSTREAM_* variable(s)" if env else ""
    return [Finding("ok", "config", f"loaded {names}{extra}")]


def check_keys(probe: Probe) -> list[Finding]:
    """Signing and API keys exist, are not public, and the files holding them are private."""
    s = probe.settings
    assert s is not None
    out: list[Finding] = []
    keys = s.signing.keys
    if not keys:
        out.append(Finding("fail", "keys", "no signing key: nothing can be signed. Run "
                           "`picstream keygen` and put it first in signing.keys"))
    for i, key in enumerate(keys):
        if key in PUBLIC_KEYS:
            out.append(Finding("fail", "keys", f"signing.keys[{i}] is the test key from the docs:"
                               " anyone can sign URLs with it. Replace it (`picstream keygen`)"))
        elif len(key) < MIN_KEY_CHARS:
            out.append(Finding("warn", "keys", f"signing.keys[{i}] has {len(key)} characters; "
                               f"use at least {MIN_KEY_CHARS} (`picstream keygen` makes 43)"))
    if s.signing.allow_unsafe:
        out.append(Finding("fail", "keys", "signing.allow_unsafe is on: anyone can render any "
                           "image with the signature `unsafe`. Turn it off outside development"))
    if not s.api.keys:
        out.append(Finding("warn", "keys", "no API key: the JSON API (/v1/) refuses every call. "
                           "`picstream keygen --api` makes one"))
    for path in probe.files:
        try:
            mode = path.stat().st_mode
        except OSError:
            continue
        if mode & (stat.S_IRGRP | stat.S_IROTH) and "keys" in path.read_text(errors="replace"):
            out.append(Finding("warn", "keys", f"{path} holds keys and other users can read it: "
                               f"chmod 600 {path}"))
    if not out:
        out.append(Finding("ok", "keys", f"{len(keys)} signing key(s), {len(s.api.keys)} API "
                           "key(s)"))
    return out


def check_fonts(probe: Probe) -> list[Finding]:
    """The fonts folder has a fonts.conf and readable fonts."""
    from .render.vips import FONTS_DIR_ENV, font_families, setup_vips

    s = probe.settings
    assert s is not None
    folder = Path(s.templates.fonts_dir)
    os.environ[FONTS_DIR_ENV] = str(folder)  # the templates check renders with these fonts
    setup_vips()
    try:
        families = sorted(font_families(folder))
    except OSError as exc:
        return [Finding("fail", "fonts", f"cannot read {folder}: {exc.strerror}")]
    if not families:
        return [Finding("fail", "fonts", f"no .ttf or .otf font in {folder}: text cannot render")]
    return [Finding("ok", "fonts", f"{len(families)} families in {folder}: "
                    + ", ".join(families))]


def check_templates(probe: Probe) -> list[Finding]:
    """Every template loads and renders with its defaults (what `serve` checks at start)."""
    from .check import check_all
    from .render.fontcheck import font_ok
    from .template.registry import Registry

    s = probe.settings
    assert s is not None
    registry = Registry(Path(s.templates.dir), font_ok=font_ok)
    problems = check_all(registry, quick=True)
    out = [Finding("fail" if p.severity == "error" else "warn", "templates", str(p))
           for p in problems]
    names = registry.names()
    if not names and not problems:
        out.append(Finding("fail", "templates", f"no template in {s.templates.dir}: add a "
                           "*.toml file (see docs/templates.md)"))
    if names and not any(f.level == "fail" for f in out):
        out.append(Finding("ok", "templates", f"{len(names)} template(s) in {s.templates.dir} "
                           "render with their defaults: " + ", ".join(names)))
    return out


def _get(url: str) -> tuple[int, Mapping[str, str]]:
    request = urllib.request.Request(url, headers={"User-Agent": "picstream-doctor"})
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as resp:
            resp.read()
            return resp.status, dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers)


def check_server(probe: Probe) -> list[Finding]:
    """`picstream serve` answers on server.host:server.port."""
    s = probe.settings
    assert s is not None
    host = s.server.host if s.server.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    url = f"http://{host}:{s.server.port}/healthz"
    try:
        status, headers = _get(url)
    except OSError as exc:
        return [Finding("fail", "server", f"nothing answers at {url} ({_reason(exc)}): is "
                        "`picstream serve` running with this config?")]
    probe.server_date = headers.get("Date")
    if status != 200:
        return [Finding("fail", "server", f"{url} answered {status}, not 200")]
    return [Finding("ok", "server", f"{url} answers")]


def check_nginx(probe: Probe) -> list[Finding]:
    """nginx answers at server.public_base_url, and a signed URL renders and caches through it."""
    from .template.registry import Registry
    from .urls import sign_url

    s = probe.settings
    assert s is not None
    base = s.server.public_base_url.rstrip("/")
    if base.endswith(f":{s.server.port}") and s.server.host in base:
        return [Finding("warn", "nginx", f"server.public_base_url ({base}) is the app itself: "
                        "no nginx cache in front (see nginx.conf)")]
    try:
        status, headers = _get(base + "/healthz")
    except OSError as exc:
        return [Finding("fail", "nginx", f"nothing answers at {base} ({_reason(exc)}): is nginx "
                        "running with the rendered nginx.conf?")]
    probe.nginx_date = headers.get("Date")
    if "nginx" not in headers.get("Server", "").lower():
        return [Finding("warn", "nginx", f"{base} answers, but not as nginx (Server: "
                        f"{headers.get('Server', '-')})")]
    if status != 200:
        return [Finding("fail", "nginx", f"{base}/healthz answered {status} through nginx: "
                        "is its upstream the PicStream server?")]
    names = Registry(Path(s.templates.dir)).names() if s.signing.keys else []
    if not names:
        return [Finding("ok", "nginx", f"nginx answers at {base}")]
    url = sign_url(names[0], {}, keys=s.signing.keys, fmt="png", base_url=base)
    try:
        first, _ = _get(url)
        second, cached = _get(url)
    except OSError as exc:
        return [Finding("fail", "nginx", f"a signed URL failed through nginx: {_reason(exc)}")]
    if first == 403:
        return [Finding("fail", "nginx", "the server refuses URLs signed with this config's key "
                        "(403): it runs with other keys")]
    if first != 200:
        return [Finding("warn", "nginx", f"nginx answers, but {names[0]} with its defaults "
                        f"answered {first}")]
    cache = cached.get("X-Cache-Status", "-")
    if cache not in ("HIT", "STALE", "UPDATING", "REVALIDATED"):
        return [Finding("warn", "nginx", f"a signed {names[0]} renders through nginx, but the "
                        f"second request was not a cache hit (X-Cache-Status: {cache})")]
    return [Finding("ok", "nginx", f"a signed {names[0]} renders through {base}; the second "
                    "request is a cache HIT")]


def check_clock(probe: Probe) -> list[Finding]:
    """This host's clock agrees with the servers' (expiring links depend on it)."""
    dates = [d for d in (probe.nginx_date, probe.server_date) if d]
    return clock_findings(dates[0] if dates else None, probe.now())


def clock_findings(http_date: str | None, now: float) -> list[Finding]:
    """Compare `now` with an HTTP Date header (one-second resolution)."""
    if time.gmtime(now).tm_year < 2024:
        return [Finding("fail", "clock", f"this host's clock says {time.ctime(now)}: set it "
                        "(and run an NTP client)")]
    if http_date is None:
        return [Finding("ok", "clock", "no server answered to compare with; this host reads "
                        + time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(now)))]
    parsed = email.utils.parsedate_to_datetime(http_date).timestamp()
    skew = now - parsed
    if abs(skew) <= CLOCK_WARN_S:
        return [Finding("ok", "clock", f"within {CLOCK_WARN_S:g} s of the server's")]
    level: Level = "fail" if abs(skew) > CLOCK_FAIL_S else "warn"
    side = "ahead of" if skew > 0 else "behind"
    return [Finding(level, "clock", f"this host is {abs(skew):.0f} s {side} the server: links "
                    "with `exp` expire early or late. Run an NTP client on both")]


def _reason(exc: OSError) -> str:
    reason = getattr(exc, "reason", None) or exc
    return str(getattr(reason, "strerror", None) or reason)


CHECKS: tuple[Callable[[Probe], list[Finding]], ...] = (
    check_config, check_keys, check_fonts, check_templates, check_server, check_nginx,
    check_clock)


def run_checks(files: Sequence[Path], environ: Mapping[str, str] | None = None,
               now: Callable[[], float] = time.time) -> list[Finding]:
    """Every check in order; after a config failure only the clock is still checked."""
    probe = Probe(files=files, environ=os.environ if environ is None else environ, now=now)
    findings: list[Finding] = []
    for check in CHECKS:
        if probe.settings is None and check not in (check_config, check_clock):
            continue
        try:
            findings += check(probe)
        except Exception as exc:  # a check that breaks is a finding, not a traceback
            findings.append(Finding("fail", check.__name__.removeprefix("check_"),
                                    f"the check itself failed: {exc!r}"))
    return findings
