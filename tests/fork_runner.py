"""Run ``automuse`` commands in real child processes that start in milliseconds, so
tests can SIGKILL them at random moments many times.

Children come from a multiprocessing *forkserver* that has already imported the CLI,
chromadb, openai and spaCy's model (``fork_preload``): each child is a fresh process
(its own pid, killed for real by SIGKILL) that runs ``automuse_rag.cli.main`` with the
given arguments and environment, its output going to a log file.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

_PASSED_ENV_PREFIXES = ("AUTOMUSE_", "OPENAI_")
_context = None


def context():
    """The forkserver context, its server started with ``fork_preload`` imported
    (tests/ goes on its PYTHONPATH: the forkserver imports preloads before it learns
    the parent's sys.path)."""
    global _context
    if _context is None:
        from multiprocessing import forkserver

        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["fork_preload"])
        old = os.environ.get("PYTHONPATH")
        here = str(Path(__file__).resolve().parent)
        os.environ["PYTHONPATH"] = os.pathsep.join([here, *([old] if old else [])])
        try:
            forkserver.ensure_running()
        finally:
            if old is None:
                del os.environ["PYTHONPATH"]
            else:
                os.environ["PYTHONPATH"] = old
        _context = ctx
        warm = ctx.Process(target=_noop, daemon=True)  # wait for the preload, so timings are of the command only
        warm.start()
        warm.join(600)
    return _context


def _noop() -> None:
    pass


def _child(argv: list[str], env: dict[str, str], log: str) -> None:
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    for key in [k for k in os.environ if k.startswith(_PASSED_ENV_PREFIXES)]:
        del os.environ[key]
    os.environ.update(env)
    sys.argv = ["automuse", *argv]
    from automuse_rag.cli import main

    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@dataclass
class Run:
    process: multiprocessing.process.BaseProcess
    started: float
    log: Path

    def wait(self, timeout: float = 300.0) -> int:
        self.process.join(timeout)
        if self.process.exitcode is None:
            self.process.kill()
            self.process.join()
            raise TimeoutError(f"automuse did not finish in {timeout:.0f}s\n{self.output()}")
        return int(self.process.exitcode)

    def kill_after(self, delay: float) -> bool:
        """SIGKILL the child ``delay`` seconds after it started; False if it had
        already exited by then."""
        remaining = self.started + delay - time.monotonic()
        self.process.join(max(0.0, remaining))
        if self.process.exitcode is not None:
            return False
        self.process.kill()
        self.process.join()
        return self.process.exitcode == -9

    def first_seen(self, path: Path, timeout: float = 300.0) -> float | None:
        """Seconds after the start at which ``path`` first existed (polled every 10 ms,
        with ``stat`` only: nothing is opened), or None if the child ended first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if path.exists():
                return time.monotonic() - self.started
            if self.process.exitcode is not None:
                return None
            time.sleep(0.01)
        return None

    def output(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-3000:]
        except OSError:
            return ""


def start(argv: list[str], env: dict[str, str], log: Path) -> Run:
    process = context().Process(target=_child, args=(argv, env, str(log)), daemon=True)
    started = time.monotonic()
    process.start()
    return Run(process, started, log)


def run(argv: list[str], env: dict[str, str], log: Path, timeout: float = 300.0) -> tuple[int, float]:
    """Run to the end: (exit code, seconds)."""
    child = start(argv, env, log)
    code = child.wait(timeout)
    return code, time.monotonic() - child.started
