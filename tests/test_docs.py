"""The README stays true: the config table lists every setting as the code defines it."""

from __future__ import annotations

from proxy.config import describe
from proxy.config_doc import markdown_table
from tests.conftest import ROOT


def test_readme_config_table_matches_settings() -> None:
    readme = (ROOT / "README.md").read_text()
    assert markdown_table() in readme, (
        "README config table is stale: paste `picstream config --markdown`")
    for info in describe():
        assert f"`{info.env_var}`" in readme


def test_readme_commands_exist() -> None:
    readme = (ROOT / "README.md").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert "make serve" in readme and "make test" in readme
    assert "\nserve:" in makefile and "\ntest:" in makefile
