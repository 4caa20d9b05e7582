"""Ship the top-level `templates/` and `config/` folders inside the wheel, without moving them.

The repository layout is fixed (templates and fonts are edited in place), so the build copies
both folders, and the nginx.conf `picstream init` renders, to `proxy/_data/` in the build tree; `proxy/shipped.py` finds them there in an
installed wheel and falls back to the repository layout in a clone or an editable install.
Everything else lives in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
SHIPPED = ("templates", "config", "nginx.conf")


class BuildPyWithShippedData(build_py):
    """build_py, plus a copy of each shipped folder under proxy/_data/ in the build tree."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install reads the folders where they are
            return
        for name in SHIPPED:
            target = Path(self.build_lib) / "proxy" / "_data" / name
            if (HERE / name).is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(HERE / name, target)
                continue
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(HERE / name, target,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*"))


setup(cmdclass={"build_py": BuildPyWithShippedData})
