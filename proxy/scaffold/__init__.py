"""`picstream init DIR`: write a new, working project folder (config, keys, a template, nginx)."""

from __future__ import annotations

import getpass
import hashlib
import json
import os
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from ..errors import ConfigError
from ..shipped import SHIPPED_NGINX_CONF
from ..urls import generate_key

CONFIG_NAME = "picstream.toml"
# What `envsubst` fills in the shipped nginx.conf; nginx's own `$variables` stay as they are.
NGINX_VARIABLES = ("PICSTREAM_NGINX_LISTEN", "PICSTREAM_UPSTREAMS", "PICSTREAM_NGINX_CACHE_DIR",
                   "PICSTREAM_NGINX_CACHE_MAX_SIZE")

GITIGNORE = """\
# picstream.toml holds the signing key and the API key's hash: keep it out of git
# (deploy it with your secrets, or set PICSTREAM_SIGNING_KEYS and PICSTREAM_API_KEYS instead).
/picstream.toml
# The asset store, the development key and nginx's cache.
/data/
/.nginx/
"""


@dataclass(frozen=True)
class Project:
    """What `init` made: where, the API key (shown once) and the commands to run."""

    root: Path
    api_key: str
    server_url: str
    nginx_url: str
    commands: tuple[str, ...]


def _config(signing_key: str, api_hash: str, port: int, nginx_port: int) -> str:
    q = json.dumps  # a TOML basic string is a JSON string for these values
    return f"""\
# PicStream project made by `picstream init`. `picstream serve` run in this folder reads it;
# every key here can also be set by its PICSTREAM_<SECTION>_<NAME> environment variable.

[server]
host = "127.0.0.1"
port = {port}
# URLs minted by `picstream sign` and the API point at nginx, the cache in front.
public_base_url = {q(f"http://127.0.0.1:{nginx_port}")}

[signing]
# Newest first: URLs are signed with the first key and verified with all of them.
keys = [{q(signing_key)}]

[api]
# Only the SHA-256 of the API key is stored; `picstream keygen --api` makes another.
keys = [{q("app:" + api_hash)}]

[templates]
# Relative to the folder `picstream serve` runs in (this one).
dir = "templates"

[sources]
data_dir = "data"
"""


def render_nginx_conf(listen: str, upstreams: list[str], cache_dir: Path,
                      cache_max_size: str = "1g") -> str:
    """The shipped nginx.conf with its four variables filled in, as `envsubst` would."""
    values = {"PICSTREAM_NGINX_LISTEN": listen,
              "PICSTREAM_UPSTREAMS": " ".join(f"server {u};" for u in upstreams),
              "PICSTREAM_NGINX_CACHE_DIR": str(cache_dir),
              "PICSTREAM_NGINX_CACHE_MAX_SIZE": cache_max_size}
    text = SHIPPED_NGINX_CONF.read_text(encoding="utf-8")
    for name in NGINX_VARIABLES:
        text = text.replace("${" + name + "}", values[name])
    return text


def render_systemd_unit(root: Path, picstream: Path) -> str:
    """A systemd unit running `picstream serve` in `root` (as the user running init)."""
    text = files(__package__).joinpath("picstream.service").read_text(encoding="utf-8")
    user = getpass.getuser()
    user_line = (f"User={user}" if os.geteuid() != 0 else
                 "# User=picstream   (a system user owning this folder; root is not needed)")
    return text.format(root=root, picstream=picstream, user_line=user_line)


def init_project(root: Path, *, port: int = 8080, nginx_port: int = 8000,
                 picstream: Path = Path("/usr/local/bin/picstream")) -> Project:
    """Create `root` (absent or empty): config, fresh keys, a template, nginx and systemd."""
    root = root.resolve()
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise ConfigError(f"{root}: exists and is not an empty folder; pick a new one")
    signing_key, api_key = generate_key(), generate_key()
    api_hash = hashlib.sha256(api_key.encode()).hexdigest()
    (root / "templates").mkdir(parents=True)
    (root / ".nginx").mkdir()
    (root / "data").mkdir()          # the unit's only writable path must exist
    config = root / CONFIG_NAME
    # Created 0600 from the start: the file holds the signing key.
    fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(_config(signing_key, api_hash, port, nginx_port))
    example = files(__package__).joinpath("example.toml").read_text(encoding="utf-8")
    (root / "templates" / "example.toml").write_text(example, encoding="utf-8")
    (root / ".gitignore").write_text(GITIGNORE, encoding="utf-8")
    # Relative to nginx's prefix (`-p .`, this folder): the project can move, and a path with
    # a space would need quoting nginx's config does not give it.
    nginx = render_nginx_conf(f"127.0.0.1:{nginx_port}", [f"127.0.0.1:{port}"], Path(".nginx"))
    # Run from this folder, in the foreground, as the printed command does.
    header = ("# Rendered by `picstream init` from PicStream's nginx.conf for this folder.\n"
              "daemon off;\npid .nginx/nginx.pid;\n\n")
    (root / "nginx.conf").write_text(header + nginx, encoding="utf-8")
    (root / "picstream.service").write_text(render_systemd_unit(root, picstream),
                                            encoding="utf-8")
    commands = ("picstream serve", "nginx -p . -c nginx.conf -e stderr")
    return Project(root=root, api_key=api_key, server_url=f"http://127.0.0.1:{port}",
                   nginx_url=f"http://127.0.0.1:{nginx_port}", commands=commands)
