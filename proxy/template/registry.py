"""Templates by name, loaded from a folder at start; reloaded when their files change."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import BrokenTemplate, NotFound, TemplateError
from .load import load_template
from .model import Template

log = logging.getLogger("picstream.templates")


@dataclass(frozen=True)
class _Entry:
    template: Template
    stamp: tuple[tuple[str, int, int], ...]   # (path, mtime_ns, size) of the file and its art


class Registry:
    """Loaded templates; `get` re-checks file stamps at most every `poll_s` when reloading.

    A file that does not load is recorded in `errors` (and logged) and the others keep
    working: one user's typo must not take every template down. With `strict`, the first
    bad file raises instead (tests and tools that want that).
    """

    def __init__(self, folder: Path, *, reload: bool = False, poll_s: float = 0.5,
                 font_ok: Callable[[str], bool] | None = None, strict: bool = False,
                 watch: tuple[Path, ...] = ()) -> None:
        self.folder = Path(folder)
        # Folders whose files templates use by name (the fonts): a change there reloads every
        # template, so one that named a font not yet added loads once the font is there.
        self.watch = watch
        self._watched = self._watch_stamp()
        self.reload = reload
        self.poll_s = poll_s
        self.font_ok = font_ok
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._checked_at = 0.0
        self.errors: dict[str, str] = {}
        self.load_all(strict=strict)

    def _stamp(self, template_path: Path,
               template: Template | None) -> tuple[tuple[str, int, int], ...]:
        paths = [template_path]
        if template is not None:
            paths += [template_path.parent / rel for rel in template.files]
        out = []
        for p in paths:
            try:
                st = os.stat(p)
                out.append((str(p), st.st_mtime_ns, st.st_size))
            except OSError:
                out.append((str(p), -1, -1))
        return tuple(out)

    def _watch_stamp(self) -> tuple[tuple[str, int, int], ...]:
        out: list[tuple[str, int, int]] = []
        for folder in self.watch:
            for path in sorted(folder.glob("*")):
                try:
                    st = path.stat()
                except OSError:
                    continue
                out.append((str(path), st.st_mtime_ns, st.st_size))
        return tuple(out)

    def load_all(self, *, strict: bool) -> None:
        """Load every `*.toml`; with `strict`, the first bad file raises TemplateError."""
        entries: dict[str, _Entry] = {}
        errors: dict[str, str] = {}
        for path in sorted(self.folder.glob("*.toml")):
            try:
                template = load_template(path, font_ok=self.font_ok)
            except TemplateError as exc:
                if strict:
                    raise
                errors[path.stem] = str(exc)
                old = self._entries.get(path.stem)
                if old is not None:
                    entries[path.stem] = old  # keep serving the last good version
                continue
            entries[template.name] = _Entry(template, self._stamp(path, template))
        with self._lock:
            before = self.errors
            self._entries = entries
            self.errors = errors
            self._checked_at = time.monotonic()
        for name, message in sorted(errors.items()):
            if before.get(name) != message:
                log.warning("template %s does not load%s: %s", name,
                            " (serving its last good version)" if name in entries else "",
                            message)
        for name in sorted(set(before) - set(errors)):
            if name in entries:
                log.info("template %s loads again", name)

    def _maybe_reload(self) -> None:
        now = time.monotonic()
        if not self.reload or now - self._checked_at < self.poll_s:
            return
        self._checked_at = now
        current = {p.stem for p in self.folder.glob("*.toml")}
        changed = current != set(self._entries) | set(self.errors)
        if self.watch:
            watched = self._watch_stamp()
            changed |= watched != self._watched
            self._watched = watched
        if not changed:
            for entry in self._entries.values():
                if self._stamp(Path(entry.template.path), entry.template) != entry.stamp:
                    changed = True
                    break
        if changed:
            self.load_all(strict=False)

    def get(self, name: str) -> Template:
        """The current template called `name`, or NotFound."""
        self._maybe_reload()
        entry = self._entries.get(name)
        if entry is None:
            error = self.errors.get(name)
            if error is not None:
                # With reload on (development) the author reads the reason in the response;
                # in production it goes to the log and /readyz only.
                raise BrokenTemplate(f"template {name} does not load"
                                     + (f": {error}" if self.reload else ""), detail=error)
            raise NotFound(f"unknown template: {name[:64]}")
        return entry.template

    def names(self) -> list[str]:
        """Names of the loaded templates, sorted."""
        self._maybe_reload()
        return sorted(self._entries)

    def all(self) -> list[Template]:
        """The loaded templates, sorted by name."""
        return [self._entries[n].template for n in self.names()]
