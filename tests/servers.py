"""Start and stop test servers: the llama-cpp-python OpenAI-compatible server serving
the shipped SmolLM2 GGUF, on 127.0.0.1 and a free port.

Usage in a test module::

    from servers import llama_server

    @pytest.fixture(scope="session")
    def openai_server():
        with llama_server() as server:
            yield server          # server.base_url == "http://127.0.0.1:PORT/v1"
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SERVER_MODEL_ALIAS = "smollm2"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    process: subprocess.Popen
    port: int
    model: str
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def wait_for_http(url: str, timeout: float, process: subprocess.Popen | None = None) -> None:
    """Poll ``url`` until it answers 200, the process dies, or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited early with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(0.25)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f}s")


def stop_process(process: subprocess.Popen, grace: float = 10.0) -> None:
    """Terminate ``process`` (and its process group), killing it after ``grace`` seconds."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=grace)


#: The ``chroma run`` process serving each URL the ``chroma_server`` fixture
#: (tests/conftest.py) started, for a test that kills it.
CHROMA_SERVERS: dict[str, subprocess.Popen] = {}


def start_chroma(url: str, path: Path) -> subprocess.Popen:
    """``chroma run`` over data directory ``path`` at ``url`` (127.0.0.1), once its
    heartbeat answers."""
    exe = Path(sys.executable).parent / "chroma"
    port = url.rsplit(":", 1)[1]
    proc = subprocess.Popen(
        [str(exe), "run", "--path", str(path), "--host", "127.0.0.1", "--port", port],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_http(f"{url}/api/v2/heartbeat", 90, proc)
    except (RuntimeError, TimeoutError) as exc:
        proc.kill()
        raise RuntimeError(f"chroma server did not start: {exc}") from None
    return proc


@contextlib.contextmanager
def llama_server(
    model_path: Path | None = None,
    *,
    n_ctx: int = 2048,
    n_threads: int = 2,
    logits_all: bool = False,
    startup_timeout: float = 120.0,
) -> Iterator[RunningServer]:
    """Run ``python -m llama_cpp.server`` on a free 127.0.0.1 port until the block ends."""
    if model_path is None:
        from automuse_rag.models.local import find_gguf

        model_path = find_gguf()
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="llama-server-", suffix=".log")[1])
    cmd = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model_path),
        "--model_alias",
        SERVER_MODEL_ALIAS,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        str(n_ctx),
        "--n_threads",
        str(n_threads),
        "--logits_all",
        str(logits_all),
        "--verbose",
        "False",
    ]
    with log.open("wb") as sink:
        process = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    server = RunningServer(process, port, SERVER_MODEL_ALIAS, log)
    try:
        try:
            wait_for_http(f"{server.base_url}/models", startup_timeout, process)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"llama-cpp server failed to start: {exc}\n{server.log_tail()}") from None
        yield server
    finally:
        stop_process(process)
        with contextlib.suppress(OSError):
            log.unlink()
