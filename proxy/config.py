"""Settings: a tree of frozen dataclasses loaded from TOML files and `PICSTREAM_*` variables.

Every field carries its default, help text, TOML key and environment variable (derived as
`PICSTREAM_<SECTION>_<NAME>`), and is validated at start with an error naming both.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

from .errors import ConfigError
from .shipped import DEFAULT_CONFIG, SHIPPED_FONTS, SHIPPED_TEMPLATES

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def setting(default: Any, help: str, *, min: float | None = None, max: float | None = None,
            choices: Sequence[str] | None = None, secret: bool = False) -> Any:
    """Declare one setting: its default, its help text and its bounds."""
    meta = {"help": help, "min": min, "max": max, "choices": choices, "secret": secret}
    if isinstance(default, (list, tuple)):
        return field(default_factory=lambda: tuple(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Server:
    host: str = setting("127.0.0.1", "Address to listen on.")
    port: int = setting(8080, "Port to listen on.", min=0, max=65535)
    workers: int = setting(1, "Worker processes (SO_REUSEPORT); 1 serves from one process.",
                           min=1, max=64)
    render_threads: int = setting(0, "Render pool threads; 0 means one per core.", min=0, max=256)
    render_queue_max: int = setting(64, "Renders waiting or running before misses get 503.",
                                    min=1, max=100000)
    public_base_url: str = setting("", "Absolute base of URLs minted by the API and the CLI; "
                                   "empty: http://{host}:{port} of this server.")
    shutdown_timeout_s: float = setting(10.0, "Grace period for in-flight requests on SIGTERM.",
                                        min=0, max=600)
    playground: bool = setting(False, "Serve the template playground at /playground.")
    log_format: str = setting("json", "Access and app log format.", choices=("json", "console"))
    trusted_proxies: tuple[str, ...] = setting(("127.0.0.1", "::1"), "Addresses or networks "
                                               "(CIDR) whose X-Forwarded-Proto is believed.")
    metrics_token: str = setting("", "Bearer token /metrics and /readyz details require; empty: "
                                 "only direct requests from this host (not via a proxy).",
                                 secret=True)

    @property
    def base_url(self) -> str:
        """Where minted URLs point: public_base_url, or this server's own address and port."""
        if self.public_base_url:
            return self.public_base_url.rstrip("/")
        # A wildcard address is not one a browser can reach: mint for the loopback instead.
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.host, self.host)
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    @property
    def render_thread_count(self) -> int:
        """Render pool size: `render_threads`, or one per core (libvips releases the GIL)."""
        return self.render_threads or (os.cpu_count() or 2)


@dataclass(frozen=True)
class Signing:
    keys: tuple[str, ...] = setting((), "Signing keys, newest first: sign with the first, "
                                    "verify with all.", secret=True)
    allow_unsafe: bool = setting(False, "Accept the literal signature `unsafe` (development only).")


@dataclass(frozen=True)
class Limits:
    max_url_bytes: int = setting(8192, "Longest accepted image URL (path + query).",
                                 min=256, max=1_000_000)
    max_text_length: int = setting(1000, "Hard cap on any text value, whatever the template says.",
                                   min=1, max=100_000)
    max_output_pixels: int = setting(16_000_000, "Largest output (width x height x dpr^2).",
                                     min=1, max=400_000_000)
    max_output_side: int = setting(8192, "Largest output width or height in pixels.",
                                   min=16, max=65535)
    render_timeout_s: float = setting(10.0, "Deadline for one render.", min=0.1, max=600)


@dataclass(frozen=True)
class Cache:
    memory_max_bytes: int = setting(256 * 1024 * 1024, "In-process LRU of rendered images (bytes).",
                                    min=0)
    render_memo_max_bytes: int = setting(
        256 * 1024 * 1024, "Per-process memo of drawn layers and base canvases (bytes).", min=0)
    known_urls_max: int = setting(
        100_000, "Verified image URLs the hit path remembers (entries).", min=0)
    vips_max_bytes: int = setting(64 * 1024 * 1024, "libvips' own operation cache (bytes).",
                                  min=0)
    vips_max_ops: int = setting(200, "libvips' own operation cache (operations).", min=0)
    disk_dir: str = setting("", "Disk tier directory; empty disables it.")
    disk_max_bytes: int = setting(2 * 1024 * 1024 * 1024, "Disk tier bound (bytes).", min=0)
    max_age_s: int = setting(3600, "max-age for URLs that do not pin the current version.", min=0)
    stale_while_revalidate_s: int = setting(86400, "stale-while-revalidate for unpinned URLs.",
                                            min=0)
    fallback_max_age_s: int = setting(60, "max-age when a source failed and a fallback was used.",
                                      min=0)


@dataclass(frozen=True)
class Sources:
    allow_hosts: tuple[str, ...] = setting((), "If set, only these hosts (or *.suffix) may be "
                                           "fetched.")
    deny_hosts: tuple[str, ...] = setting((), "Hosts (or *.suffix) never fetched.")
    allow_loopback: bool = setting(False, "TEST ONLY: allow fetching from exactly 127.0.0.1 "
                                   "and ::1 (the rest of 127/8 stays refused).")
    allow_networks: tuple[str, ...] = setting(
        (), "Private networks image hosts may be fetched from, as `CIDR:port` (or `CIDR` for "
        "any port), e.g. 10.1.2.0/24:443; RISK: URL signers can then reach them. Checked on "
        "every connect; never link-local (metadata) or multicast.")
    allow_svg: bool = setting(False, "Accept SVG sources (rendered with external references "
                              "blocked).")
    allow_http: bool = setting(False, "Accept plain http:// source URLs (only https:// "
                               "otherwise).")
    allow_ports: tuple[str, ...] = setting(("80", "443"), "Ports a source URL (or a redirect) "
                                           "may use: numbers or ranges such as 8000-8099.")
    max_concurrent_fetches: int = setting(32, "Source downloads at once (each up to "
                                          "max_bytes); past it, renders needing a new source "
                                          "get 503.", min=1, max=10000)
    connect_timeout_s: float = setting(3.0, "Connect timeout of a source fetch.", min=0.05,
                                       max=120)
    fetch_timeout_s: float = setting(8.0, "Total timeout of a source fetch, redirects included.",
                                     min=0.05, max=600)
    max_redirects: int = setting(3, "Redirects followed per fetch, each re-checked.", min=0,
                                 max=10)
    max_bytes: int = setting(20 * 1024 * 1024, "Largest source image body (decoded bytes).",
                             min=1024)
    max_pixels: int = setting(40_000_000, "Largest source image (width x height).", min=1)
    max_frames: int = setting(100, "Most frames an animated source may have (its first frame "
                              "is drawn; more are refused unread).", min=1, max=1000)
    cache_max_bytes: int = setting(128 * 1024 * 1024, "Source cache bound (bytes).", min=0)
    cache_ttl_s: int = setting(600, "Source cache time to live.", min=0)
    data_dir: str = setting("data", "Directory of the asset store (relative to the working "
                            "directory).")
    assets_max_bytes: int = setting(10 * 1024 ** 3, "Bound on the asset store's bytes; "
                                    "uploads past it get 507. 0: no bound.", min=0)


@dataclass(frozen=True)
class Api:
    keys: tuple[str, ...] = setting((), "API keys as `name:sha256hex` (see `picstream keygen "
                                    "--api`).", secret=True)
    max_body_bytes: int = setting(10 * 1024 * 1024, "Largest JSON or upload body.", min=1024)
    max_batch_items: int = setting(10000, "Most items in one batch.", min=1)
    batch_concurrency: int = setting(2, "Concurrent prerenders of a batch.", min=1, max=64)
    renders_per_minute_per_key: int = setting(1200, "POST /v1/render calls one API key may "
                                              "make per minute (bursts up to it); 0: no quota.",
                                              min=0)
    batch_items_per_hour_per_key: int = setting(100_000, "Batch items one API key may submit "
                                                "per hour (bursts up to it); 0: no quota.",
                                                min=0)
    mint_threads: int = setting(2, "Threads validating and signing batch items (a pool of "
                                "their own: DNS and disk reads use the default one).",
                                min=1, max=64)


@dataclass(frozen=True)
class Batch:
    redis_url: str = setting("", "Redis shared by every host for batches (redis://host:6379/0); "
                             "empty keeps batches in this process.", secret=True)
    chunk_items: int = setting(16, "Items a host takes from a batch at a time.", min=1, max=1000)
    visibility_timeout_s: float = setting(30.0, "A taken chunk not finished (nor extended) "
                                          "within this is taken again by any host.",
                                          min=0.5, max=3600)
    retention_s: int = setting(7 * 86400, "How long a batch, its results and its "
                               "Idempotency-Key are kept.", min=60)
    webhook_secret: str = setting("", "HMAC-SHA256 key signing webhook calls; webhooks are "
                                  "refused while empty.", secret=True)
    webhook_attempts: int = setting(6, "Deliveries tried per webhook before giving up.",
                                    min=1, max=50)
    webhook_backoff_s: float = setting(2.0, "Wait before the first retry; doubled each time.",
                                       min=0.01, max=3600)
    webhook_timeout_s: float = setting(10.0, "Timeout of one webhook delivery.", min=0.1,
                                       max=120)


@dataclass(frozen=True)
class Templates:
    dir: str = setting("", "Directory of template TOML files; empty: the shipped templates.")
    fonts_dir: str = setting("", "Fonts directory holding a fonts.conf; empty: the shipped fonts.")
    reload: bool = setting(False, "Reload templates when their files change.")


@dataclass(frozen=True)
class Settings:
    server: Server = field(default_factory=Server)
    signing: Signing = field(default_factory=Signing)
    limits: Limits = field(default_factory=Limits)
    cache: Cache = field(default_factory=Cache)
    sources: Sources = field(default_factory=Sources)
    api: Api = field(default_factory=Api)
    batch: Batch = field(default_factory=Batch)
    templates: Templates = field(default_factory=Templates)


@dataclass(frozen=True)
class SettingInfo:
    """One setting as documented: TOML key, env var, type, default and help."""

    section: str
    name: str
    toml_key: str
    env_var: str
    type_name: str
    default: Any
    help: str
    secret: bool


def _sections() -> Iterator[tuple[str, type[Any]]]:
    hints = get_type_hints(Settings)
    for f in dataclasses.fields(Settings):
        yield f.name, hints[f.name]


def describe() -> list[SettingInfo]:
    """Every setting, in declaration order (used for the README table and its test)."""
    out = []
    for section, cls in _sections():
        hints = get_type_hints(cls)
        for f in dataclasses.fields(cls):
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[operator]
            out.append(SettingInfo(
                section=section, name=f.name, toml_key=f"{section}.{f.name}",
                env_var=f"PICSTREAM_{section.upper()}_{f.name.upper()}",
                type_name=_type_name(hints[f.name]), default=default,
                help=f.metadata["help"], secret=f.metadata["secret"]))
    return out


def _type_name(tp: Any) -> str:
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(tp, "list")


def _coerce(info: SettingInfo, tp: Any, raw: Any, from_env: bool) -> Any:
    where = f"{info.toml_key} ({info.env_var})"
    if tp is bool:
        if from_env:
            low = str(raw).strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off", ""):
                return False
            raise ConfigError(f"{where}: expected true or false, got {raw!r}")
        if not isinstance(raw, bool):
            raise ConfigError(f"{where}: expected true or false, got {raw!r}")
        return raw
    if tp is int or tp is float:
        if isinstance(raw, bool):
            raise ConfigError(f"{where}: expected a number, got {raw!r}")
        try:
            value = tp(raw) if from_env or isinstance(raw, (int, float)) else None
        except ValueError:
            value = None
        if value is None or (tp is int and not from_env and not isinstance(raw, int)):
            raise ConfigError(f"{where}: expected {info.type_name}, got {raw!r}")
        return value
    if tp is str:
        if not isinstance(raw, str):
            raise ConfigError(f"{where}: expected a string, got {raw!r}")
        return raw
    # tuple[str, ...]: a TOML array, or a comma-separated env value
    if from_env:
        return tuple(p.strip() for p in str(raw).split(",") if p.strip())
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise ConfigError(f"{where}: expected a list of strings, got {raw!r}")
    return tuple(raw)


def _check_bounds(info: SettingInfo, meta: Mapping[str, Any], value: Any) -> None:
    where = f"{info.toml_key} ({info.env_var})"
    lo, hi, choices = meta["min"], meta["max"], meta["choices"]
    if lo is not None and value < lo:
        raise ConfigError(f"{where}: must be at least {lo}, got {value!r}")
    if hi is not None and value > hi:
        raise ConfigError(f"{where}: must be at most {hi}, got {value!r}")
    if choices is not None and value not in choices:
        raise ConfigError(f"{where}: must be one of {', '.join(choices)}, got {value!r}")


def load_settings(files: Sequence[str | Path] = (), environ: Mapping[str, str] | None = None,
                  *, include_default: bool = True) -> Settings:
    """Defaults, then config/default.toml, then each file, then `PICSTREAM_*` variables."""
    environ = os.environ if environ is None else environ
    layers: list[tuple[str, dict[str, Any]]] = []
    paths = ([DEFAULT_CONFIG] if include_default and DEFAULT_CONFIG.exists() else []) + [
        Path(p) for p in files]
    for path in paths:
        try:
            layers.append((str(path), tomllib.loads(Path(path).read_text(encoding="utf-8"))))
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    known_sections = dict(_sections())
    for path_name, data in layers:
        for section, body in data.items():
            if section not in known_sections or not isinstance(body, dict):
                raise ConfigError(f"{path_name}: unknown section [{section}]")
            names = {f.name for f in dataclasses.fields(known_sections[section])}
            for key in body:
                if key not in names:
                    raise ConfigError(f"{path_name}: unknown setting {section}.{key}")
    infos = {(i.section, i.name): i for i in describe()}
    sections: dict[str, Any] = {}
    for section, cls in known_sections.items():
        hints = get_type_hints(cls)
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            info = infos[(section, f.name)]
            value = info.default
            for _, data in layers:
                if f.name in data.get(section, {}):
                    value = _coerce(info, hints[f.name], data[section][f.name], False)
            if info.env_var in environ:
                value = _coerce(info, hints[f.name], environ[info.env_var], True)
            _check_bounds(info, f.metadata, value)
            if (section, f.name) == ("templates", "dir"):
                value = _resolve_dir(value, SHIPPED_TEMPLATES)
            if (section, f.name) == ("templates", "fonts_dir"):
                value = _resolve_dir(value, SHIPPED_FONTS)
            values[f.name] = value
        sections[section] = cls(**values)
    settings = Settings(**sections)
    _check_cross(settings)
    return settings


def _resolve_dir(value: str, shipped: Path) -> str:
    """Empty means the shipped folder; a relative one is looked up in the working directory,
    then in a clone's root (the tests' and `make serve`'s way)."""
    if not value:
        return str(shipped)
    path = Path(value)
    if path.is_absolute() or path.is_dir():
        return str(path.resolve())
    return str((PROJECT_ROOT / path).resolve())


def _check_cross(settings: Settings) -> None:
    for key in settings.signing.keys:
        if len(key) < 16:
            raise ConfigError("signing.keys (PICSTREAM_SIGNING_KEYS): each key needs at least "
                              "16 characters")
    for entry in settings.api.keys:
        name, sep, digest = entry.partition(":")
        if not sep or not name or len(digest) != 64:
            raise ConfigError("api.keys (PICSTREAM_API_KEYS): each entry is name:sha256hex")
    url = settings.batch.redis_url
    if url and not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError("batch.redis_url (PICSTREAM_BATCH_REDIS_URL): expected redis://, "
                          "rediss:// or unix://")
    for entry in settings.server.trusted_proxies:
        try:
            ipaddress.ip_network(entry.strip(), strict=False)
        except ValueError:
            raise ConfigError(f"server.trusted_proxies (PICSTREAM_SERVER_TRUSTED_PROXIES): "
                              f"{entry!r} is not an address or network") from None
    for entry in settings.sources.allow_ports:
        if port_range(entry) is None:
            raise ConfigError(f"sources.allow_ports (PICSTREAM_SOURCES_ALLOW_PORTS): {entry!r} is "
                              "not a port (1-65535) or a range such as 8000-8099")
    from .sources.addresses import parse_allowed_network  # pure; no import cycle

    for entry in settings.sources.allow_networks:
        try:
            parse_allowed_network(entry)
        except ValueError as exc:
            raise ConfigError(f"sources.allow_networks (PICSTREAM_SOURCES_ALLOW_NETWORKS): "
                              f"{exc}") from None
    if not Path(settings.templates.dir).is_dir():
        raise ConfigError(f"templates.dir (PICSTREAM_TEMPLATES_DIR): not a directory: "
                          f"{settings.templates.dir}")
    if not (Path(settings.templates.fonts_dir) / "fonts.conf").is_file():
        raise ConfigError(f"templates.fonts_dir (PICSTREAM_TEMPLATES_FONTS_DIR): no fonts.conf "
                          f"in {settings.templates.fonts_dir} (copy the shipped one beside "
                          f"your fonts)")


def port_range(entry: str) -> tuple[int, int] | None:
    """`"443"` -> (443, 443), `"8000-8099"` -> (8000, 8099); None if it is neither."""
    low, _, high = entry.strip().partition("-")
    if not entry.isascii() or not low.isdigit() or not (high or low).isdigit():
        return None
    first, last = int(low), int(high or low)
    return (first, last) if 1 <= first <= last <= 65535 else None


def replace(settings: Settings, **sections: Mapping[str, Any]) -> Settings:
    """A copy of `settings` with some fields of some sections replaced (tests, CLI flags)."""
    changed = {name: dataclasses.replace(getattr(settings, name), **vals)
               for name, vals in sections.items()}
    return dataclasses.replace(settings, **changed)
