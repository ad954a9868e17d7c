"""Where the tests' Project Gutenberg books are, and fetching them when they are not.

The tests read Gutenberg texts laid out as on the site
(``gutenberg/cache/epub/ID/pgID.txt``) from, in this order:

1. ``AUTOMUSE_SHARED_DATA`` when it is set;
2. ``../shared/data`` beside the checkout (CI has it);
3. ``.cache/test-data`` in the checkout (git-ignored), which this script fills.

Run as a script (``scripts/setup.sh`` does), it downloads the books the tests read
into the cache, with the project's own ``automuse books get`` (``--mirror M``, else
``AUTOMUSE_GUTENBERG_MIRROR``, else https://www.gutenberg.org), only when neither of
the first two exists, and only the books not already there.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ENV = "AUTOMUSE_SHARED_DATA"
# Every Gutenberg book a test reads: Alice, Frankenstein, Pride and Prejudice, Gatsby.
TEST_BOOKS = (11, 84, 1342, 64317)


def cache_dir(repo: Path = REPO) -> Path:
    return repo / ".cache" / "test-data"


def gutenberg_path(shared: Path, book_id: int) -> Path:
    return shared / "gutenberg" / "cache" / "epub" / str(book_id) / f"pg{book_id}.txt"


def configured(repo: Path = REPO, environ: dict[str, str] | None = None) -> Path | None:
    """The shared data named by AUTOMUSE_SHARED_DATA or lying at ../shared/data (it may
    not exist when the variable names it), or None when neither applies."""
    env = (os.environ if environ is None else environ).get(ENV)
    if env:
        return Path(env)
    beside = repo.parent / "shared" / "data"
    return beside if beside.is_dir() else None


def shared_data_dir(repo: Path = REPO, environ: dict[str, str] | None = None) -> Path:
    """Where the tests read shared data: AUTOMUSE_SHARED_DATA, ../shared/data, then the cache."""
    return configured(repo, environ) or cache_dir(repo)


def missing_books(shared: Path) -> list[int]:
    return [book_id for book_id in TEST_BOOKS if not gutenberg_path(shared, book_id).is_file()]


def fetch(dest: Path, mirror: str | None = None, python: str = sys.executable) -> list[int]:
    """Download the test books missing from ``dest`` with ``automuse books get`` and lay
    them out as ``dest/gutenberg/cache/epub/ID/pgID.txt``; returns the IDs downloaded.
    Raises RuntimeError with the command's one-line error when it fails."""
    wanted = missing_books(dest)
    if not wanted:
        return []
    with tempfile.TemporaryDirectory(prefix="automuse-test-data-") as home:
        cmd = [python, "-m", "automuse_rag", "--home", home, "books", "get", *map(str, wanted)]
        if mirror:
            cmd += ["--mirror", mirror]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        got = []
        for book_id in wanted:  # keep what came before a failure
            downloaded = Path(home) / "books" / f"pg{book_id}.txt"
            if downloaded.is_file():
                target = gutenberg_path(dest, book_id)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(downloaded, target)
                got.append(book_id)
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines()
            raise RuntimeError(lines[-1] if lines else f"automuse books get exited with {done.returncode}")
    return got


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fetch the Gutenberg books the tests read when ../shared/data is absent.")
    parser.add_argument(
        "--mirror", help="Gutenberg mirror (URL or directory); default AUTOMUSE_GUTENBERG_MIRROR or gutenberg.org"
    )
    parser.add_argument("--repo", type=Path, default=REPO, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    shared = configured(args.repo)
    if shared is not None:
        print(f"test data: using {shared} (nothing to fetch)", file=sys.stderr)
        return 0
    dest = cache_dir(args.repo)
    try:
        got = fetch(dest, args.mirror)
    except RuntimeError as exc:
        ids = " ".join(map(str, TEST_BOOKS))
        print(
            f"warning: could not fetch the test books ({exc}); the tests that read them will fail until "
            f"`automuse books get {ids}` can reach a mirror (rerun: python tests/shared_data.py --mirror M)",
            file=sys.stderr,
        )
        return 1
    what = f"downloaded {', '.join(f'pg{i}' for i in got)}" if got else "all present"
    print(f"test data: no ../shared/data, so the test books are in {dest} ({what})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
