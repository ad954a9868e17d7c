"""A real headless Chromium (Debian's ``chromium`` + ``chromium-driver``) driven by
Selenium, and an ``automuse serve`` subprocess to point it at.

Shared by tests/test_web_browser.py and scripts/web_screenshots.py. Nothing is
downloaded: Selenium is given both binaries. A missing browser is an error with
the command that installs it (tests fail, they never skip).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from servers import free_port, stop_process, wait_for_http

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
DRIVER_CANDIDATES = ("/usr/bin/chromedriver",)
INSTALL_HINT = "sudo apt-get install -y chromium chromium-driver   (or: bash scripts/setup.sh as root)"
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
)


class BrowserMissing(RuntimeError):
    pass


def find_browser() -> tuple[str, str]:
    """(chromium, chromedriver) paths, from AUTOMUSE_CHROMIUM / AUTOMUSE_CHROMEDRIVER or
    the Debian packages; BrowserMissing with the install command otherwise."""
    chromium = (
        os.environ.get("AUTOMUSE_CHROMIUM")
        or next((p for p in CHROMIUM_CANDIDATES if Path(p).exists()), None)
        or shutil.which("chromium")
    )
    driver = (
        os.environ.get("AUTOMUSE_CHROMEDRIVER")
        or next((p for p in DRIVER_CANDIDATES if Path(p).exists()), None)
        or shutil.which("chromedriver")
    )
    missing = [name for name, path in (("chromium", chromium), ("chromedriver", driver)) if not path]
    if missing:
        raise BrowserMissing(f"headless browser tests need {' and '.join(missing)}; install with: {INSTALL_HINT}")
    try:
        import selenium  # noqa: F401
    except ImportError:
        raise BrowserMissing("headless browser tests need selenium: pip install -e '.[test]'") from None
    return str(chromium), str(driver)


@contextlib.contextmanager
def chromium(width: int = 1360, height: int = 900) -> Iterator[object]:
    """A headless Chromium WebDriver with a fresh profile, quit on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = find_browser()
    profile = tempfile.mkdtemp(prefix="automuse-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        driver.set_page_load_timeout(60)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@dataclass
class Served:
    process: subprocess.Popen
    url: str
    log: Path


@contextlib.contextmanager
def serve(home: Path, story: str, *extra: str, startup_timeout: float = 120.0) -> Iterator[Served]:
    """``automuse serve`` in a subprocess on 127.0.0.1 and a free port until the block ends."""
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="automuse-serve-", suffix=".log")[1])
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(repo) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-m", "automuse_rag", "--home", str(home), "serve", "--story", story, "--port", str(port), *extra]
    with log.open("wb") as sink:
        process = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True, env=env, cwd=home)
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_for_http(url + "/api/story", startup_timeout, process)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"automuse serve did not start: {exc}\n{log.read_text(errors='replace')[-2000:]}") from None
        yield Served(process, url, log)
    finally:
        stop_process(process)
        with contextlib.suppress(OSError):
            log.unlink()


def wait_until(predicate: Callable[[], object], timeout: float = 30.0, what: str = "condition") -> object:
    """Poll ``predicate`` until it returns something truthy (returned) or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            last = predicate()
            if last:
                return last
        time.sleep(0.1)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def settled(driver: object, at: int | None = None) -> bool:
    """The page finished loading its current view (and is at chunk ``at`` if given)."""
    body = driver.find_element("tag name", "body")  # type: ignore[attr-defined]
    ready = body.get_attribute("data-loading") == "" and body.get_attribute("data-at") is not None
    return ready and (at is None or body.get_attribute("data-at") == str(at))


def set_slider(driver: object, at: int) -> None:
    """Move the position slider to ``at`` the way a user's drag ends (input + change events)."""
    driver.execute_script(  # type: ignore[attr-defined]
        "const s = document.getElementById('at-slider'); s.value = arguments[0];"
        "s.dispatchEvent(new Event('input', {bubbles: true})); s.dispatchEvent(new Event('change', {bubbles: true}));",
        at,
    )
    wait_until(lambda: settled(driver, at), what=f"the page at chunk {at}")


def open_view(driver: object, view: str) -> None:
    driver.find_element("css selector", f"#tabs button[data-view='{view}']").click()  # type: ignore[attr-defined]
    wait_until(lambda: settled(driver), what=f"the {view} view")
