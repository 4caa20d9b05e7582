"""Settings: defaults, TOML layering, env overrides, and errors that name key and variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy.config import DEFAULT_CONFIG, load_settings
from proxy.config_doc import defaults_toml
from proxy.errors import ConfigError


def test_default_toml_is_in_step_with_code() -> None:
    assert DEFAULT_CONFIG.read_text() == defaults_toml(), (
        "config/default.toml is stale: run `picstream config --defaults > config/default.toml`")


def test_file_then_env_override(tmp_path: Path) -> None:
    user = tmp_path / "user.toml"
    user.write_text("[server]\nport = 9000\n[cache]\nmax_age_s = 5\n")
    s = load_settings([user], environ={"PICSTREAM_SERVER_PORT": "9100",
                                       "PICSTREAM_SOURCES_ALLOW_HOSTS": "a.example, b.example"})
    assert s.server.port == 9100
    assert s.cache.max_age_s == 5
    assert s.sources.allow_hosts == ("a.example", "b.example")


@pytest.mark.parametrize(("environ", "message"), [
    ({"PICSTREAM_SERVER_PORT": "http"}, "server.port (PICSTREAM_SERVER_PORT): expected integer"),
    ({"PICSTREAM_SERVER_PORT": "70000"}, "server.port (PICSTREAM_SERVER_PORT): must be at most"),
    ({"PICSTREAM_SIGNING_ALLOW_UNSAFE": "perhaps"}, "signing.allow_unsafe"),
    ({"PICSTREAM_SIGNING_KEYS": "short"}, "signing.keys (PICSTREAM_SIGNING_KEYS)"),
    ({"PICSTREAM_SERVER_LOG_FORMAT": "xml"}, "must be one of json, console"),
])
def test_bad_env_value_names_key_and_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_settings(environ=environ)


def test_unknown_key_in_file_is_an_error(tmp_path: Path) -> None:
    user = tmp_path / "user.toml"
    user.write_text("[server]\nprot = 9000\n")
    with pytest.raises(ConfigError, match="unknown setting server.prot"):
        load_settings([user], environ={})


def test_allow_networks_are_validated_at_start() -> None:
    settings = load_settings(environ={"PICSTREAM_SOURCES_ALLOW_NETWORKS":
                                      "10.1.2.0/24:443, [fd00:1::/64]:8443"})
    assert settings.sources.allow_networks == ("10.1.2.0/24:443", "[fd00:1::/64]:8443")
    for bad in ("0.0.0.0/0", "169.254.169.254:80", "10.1.2.0/24:99999", "intranet:443"):
        with pytest.raises(ConfigError, match="PICSTREAM_SOURCES_ALLOW_NETWORKS"):
            load_settings(environ={"PICSTREAM_SOURCES_ALLOW_NETWORKS": bad})
