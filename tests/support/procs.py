"""Commands run the way a user runs them: a clean environment, a working directory, a log."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


def clean_env(**extra: str) -> dict[str, str]:
    """os.environ without PICSTREAM_* or PYTHON* variables (a user's shell, not the tests')."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PICSTREAM_", "PYTHON", "VIRTUAL_ENV"))}
    return {**env, **extra}


def run(cmd: Sequence[str], cwd: Path, *, env: dict[str, str] | None = None,
        timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
    """Run a command to completion; fail with its output when it fails."""
    result = subprocess.run(list(cmd), cwd=cwd, env=env or clean_env(), capture_output=True,
                            text=True, timeout=timeout_s)
    assert result.returncode == 0, (f"{' '.join(cmd)} exited {result.returncode}:\n"
                                    f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 60) -> None:
    """Block until `url` answers (any status below 500) or the process dies."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode}: {log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status < 500:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} not ready: {log.read_text()[-3000:]}")


@contextmanager
def background(cmd: Sequence[str] | str, cwd: Path, log: Path, *, ready_url: str,
               env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """Start a long-running command (a list, or a shell line as printed), wait, stop on exit."""
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env or clean_env(), stdout=out,
                                stderr=subprocess.STDOUT, shell=isinstance(cmd, str),
                                start_new_session=True)
        try:
            wait_http(ready_url, proc, log)
            yield proc
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, 15)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, 9)
                    proc.wait()
