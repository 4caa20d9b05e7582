"""Shared fixtures: settings factory with temp dirs and test keys, golden comparison."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from proxy.config import Settings, load_settings, replace
from tests.support.golden import assert_matches_golden

ROOT = Path(__file__).resolve().parent.parent
TEST_PORTS = ("80", "443", "1024-65535")
TEST_KEYS = ("test-key-newest-0123456789abcdef", "test-key-older-0123456789abcdef")


@pytest.fixture
def settings_factory(tmp_path: Path) -> Callable[..., Settings]:
    """Settings with temp data dirs and test keys; keyword sections override fields."""

    def make(**sections: dict[str, Any]) -> Settings:
        base = load_settings(environ={})
        # Tests serve sources from local http origins on ephemeral ports: both are refused
        # by default (https, ports 80 and 443 only), so the tests opt in explicitly.
        base = replace(base, signing={"keys": TEST_KEYS},
                       sources={"data_dir": str(tmp_path / "data"), "allow_http": True,
                                "allow_ports": TEST_PORTS})
        return replace(base, **sections) if sections else base

    return make


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory()


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[..., None]:
    """assert_matches_golden bound to the calling test module's golden folder."""
    module = request.module.__name__.rsplit(".", 1)[-1]

    def check(actual: bytes, name: str, *, fmt: str, budget: float | None = None) -> None:
        assert_matches_golden(actual, name, fmt=fmt, module=module, budget=budget)

    return check


@pytest.fixture
async def live(settings: Settings):  # type: ignore[no-untyped-def]
    """The app for `settings` on a real port: yields (base_url, app)."""
    from tests.support.servers import start_app

    server, app = await start_app(settings)
    try:
        yield f"http://127.0.0.1:{server.port}", app
    finally:
        await server.close()


@pytest.fixture
def redis_server(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A real redis-server on a free loopback port (tests/support/redis_server.py)."""
    from tests.support.redis_server import RedisServer

    server = RedisServer(tmp_path / "redis")
    try:
        yield server
    finally:
        server.stop()
