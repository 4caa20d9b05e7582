"""`templates.fonts_dir`: the fonts folder is a setting; the shipped fonts are its default."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from proxy.config import load_settings
from proxy.errors import ConfigError
from proxy.shipped import SHIPPED_FONTS, SHIPPED_TEMPLATES
from tests.support.procs import clean_env

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_are_the_shipped_folders() -> None:
    settings = load_settings(environ={})
    assert Path(settings.templates.dir) == SHIPPED_TEMPLATES
    assert Path(settings.templates.fonts_dir) == SHIPPED_FONTS
    assert (SHIPPED_FONTS / "fonts.conf").is_file()


def test_fonts_dir_without_fonts_conf_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"templates.fonts_dir \(PICSTREAM_TEMPLATES_FONTS_DIR\)"):
        load_settings(environ={"PICSTREAM_TEMPLATES_FONTS_DIR": str(tmp_path)})


def _check(fonts: Path) -> tuple[int, str]:
    import subprocess

    env = clean_env(PICSTREAM_TEMPLATES_FONTS_DIR=str(fonts))
    result = subprocess.run([sys.executable, "-m", "proxy", "check", "--quick", "social-card"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    return result.returncode, result.stdout + result.stderr


def test_the_configured_fonts_folder_is_the_one_used(tmp_path: Path) -> None:
    full = tmp_path / "full"
    shutil.copytree(SHIPPED_FONTS, full)
    code, out = _check(full)
    assert code == 0, out
    # Without Inter, social-card's "Inter Bold" layers are refused at load time.
    no_inter = tmp_path / "no-inter"
    shutil.copytree(SHIPPED_FONTS, no_inter, ignore=shutil.ignore_patterns("Inter-*"))
    code, out = _check(no_inter)
    assert code != 0
    assert "Inter" in out and "not shipped" in out
