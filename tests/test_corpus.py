"""``automuse corpus ingest`` on a local Ray instance (num_cpus=2, started once for the
session): each store equals the single-book ingest's, a bad file is one failed line
among finished books, a worker killed mid-task is retried by Ray, and a run killed
with SIGKILL resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, SAMPLE_DIR, cli, committed_chunks
from fault_server import lore_reply
from loopback import Loopback, last_user

from automuse_rag.corpus.specs import expand_specs
from automuse_rag.errors import InputError
from automuse_rag.memory.story import StoryMemory
from automuse_rag.settings import get_settings

SAMPLE = SAMPLE_DIR / "story.txt"
FAST = ["--llm", "extractive", "--embedder", "hash:32", "--size", "400"]


@pytest.fixture(scope="session")
def ray_address() -> Iterator[str]:
    """One local Ray instance for the session (2 CPUs); the corpus runs in this process
    use it, and commands in a subprocess join it with --ray-address."""
    import ray

    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), before) if p)  # the workers import this checkout
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    finally:
        if before is None:
            os.environ.pop("PYTHONPATH")
        else:
            os.environ["PYTHONPATH"] = before
    try:
        yield str(ray.get_runtime_context().gcs_address)
    finally:
        ray.shutdown()


@pytest.fixture(scope="session")
def single(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home where ``automuse ingest`` stored the sample story alone (as ``story``)."""
    home = tmp_path_factory.mktemp("single")
    result = cli(home, "ingest", str(SAMPLE), "--story", "story", *FAST)
    assert result.exit_code == 0, result.output
    return home


def snapshot(home: Path, name: str) -> dict:
    """What must be equal between two stores of one book: Chroma's records, the chunk
    records, the lore and the graph at every position, the outline."""
    memory = StoryMemory.open(get_settings(home=home), name)
    try:
        d = home / "stores" / name
        return {
            "collections": {k: memory.store.get_all(k) for k in ("summary", "mention", "chunk")},
            "records": memory.latest().records(),
            "lore": _unstamped(json.loads((d / "lore.json").read_text())),
            "as_of": [[e.to_dict() for e in memory.at(i).entities()] for i in range(len(memory))],
            "relations": [r.__dict__ for r in memory.latest().relations()],
            "outline": memory.outline,
        }
    finally:
        memory.close()


def _unstamped(data: dict) -> dict:
    return {k: v for k, v in data.items() if k not in ("state_version", "store_id")}


def assert_same_store(a: Path, b: Path, name: str) -> None:
    x, y = snapshot(a, name), snapshot(b, name)
    assert x["records"] and x["lore"]
    for key in x:
        assert x[key] == y[key], key
    check = cli(a, "check", "--story", name)
    assert check.exit_code == 0, check.output


def test_specs_name_each_book_once_and_refuse_a_name_clash(tmp_path: Path):
    shelf = tmp_path / "shelf"
    shelf.mkdir()
    for name in ("a.txt", "b.epub", "notes.md"):
        (shelf / name).write_text("x")
    (tmp_path / "list.txt").write_text(f"# my books\n{shelf / 'a.txt'}\n1342\n\n12-14\n")
    cfg = get_settings(home=tmp_path)
    books = expand_specs([str(shelf), f"@{tmp_path / 'list.txt'}", str(tmp_path / "shelf" / "*.txt"), "sample"], cfg)
    assert [b.name for b in books] == ["a", "b", "pride", "pg12", "pg13", "pg14", "sample"]
    assert books[2].source == str(cfg.books_dir / "pg1342.txt") and books[2].gutenberg_id == 1342
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "a.txt").write_text("y")
    with pytest.raises(InputError, match="two books would be story a: .*shelf/a.txt and .*other/a.txt"):
        expand_specs([str(shelf), str(tmp_path / "other" / "a.txt")], cfg)
    for bad, message in (("nosuch.txt", "no such file"), ("14-12", "bad ID range"), ("@nolist", "no such list")):
        with pytest.raises(InputError, match=message):
            expand_specs([str(tmp_path / bad) if bad.endswith(".txt") else bad], cfg)
    result = cli(tmp_path, "corpus", "ingest", str(tmp_path / "nosuch.txt"))
    assert result.exit_code != 0 and result.output.startswith("error: ") and len(result.output.strip().splitlines()) == 1


def test_help_does_not_import_ray():
    code = "import sys; from automuse_rag.cli import app; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "False"


def test_corpus_stores_equal_single_ingest_and_a_bad_file_fails_alone(
    ray_address: str, single: Path, tmp_path: Path, shared_data: Path
):
    home = tmp_path / "home"
    books = tmp_path / "books"
    books.mkdir()
    (books / "story.txt").write_bytes(SAMPLE.read_bytes())
    pride = (shared_data / "gutenberg" / "cache" / "epub" / "1342" / "pg1342.txt").read_text(encoding="utf-8")
    (books / "pride-slice.txt").write_text(pride[20_000:32_000], encoding="utf-8")
    (books / "binary.txt").write_bytes(bytes(range(256)) * 40)
    (books / "blank.txt").write_text("\n \n\t\n")
    mirror = ["--mirror", str(shared_data / "gutenberg")]
    result = cli(home, "corpus", "ingest", str(books), "999999", *FAST, *mirror, "--workers", "2", "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    status = {b["name"]: b for b in report["books"]}
    assert {n: b["status"] for n, b in status.items()} == {
        "binary": "failed",
        "blank": "failed",
        "pride-slice": "done",
        "story": "done",
        "pg999999": "failed",
    }
    assert "binary" in status["binary"]["error"] and "empty" in status["blank"]["error"]
    assert "not on mirror" in status["pg999999"]["error"]
    assert status["story"]["chunks"] == status["story"]["new_chunks"] > 50
    assert not (home / "stores" / "binary").exists() and not (home / "stores" / "blank").exists()
    assert_same_store(home, single, "story")

    other = tmp_path / "pride-alone"
    alone = cli(other, "ingest", str(books / "pride-slice.txt"), *FAST)
    assert alone.exit_code == 0, alone.output
    assert_same_store(home, other, "pride-slice")

    started = time.monotonic()
    again = cli(home, "corpus", "ingest", str(books / "story.txt"), str(books / "pride-slice.txt"), *FAST, "--json")
    assert again.exit_code == 0, again.output
    assert [b["status"] for b in json.loads(again.stdout)["books"]] == ["skipped", "skipped"]
    assert time.monotonic() - started < 5  # no Ray work, no book read


def _kill_one_analysing_worker(stop: threading.Event, killed: list[int]) -> None:
    """SIGKILL the first Ray worker process seen analysing chunks (its title is
    ``ray::BookWorker.analyse``)."""
    while not stop.is_set() and not killed:
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                title = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
            except OSError:
                continue
            if title.startswith(b"ray::BookWorker.analyse"):
                time.sleep(0.3)  # mid-task
                os.kill(int(pid), signal.SIGKILL)
                killed.append(int(pid))
                return
        time.sleep(0.05)


@pytest.mark.slow
def test_a_worker_killed_mid_task_is_retried_and_the_store_is_equal(ray_address: str, single: Path, tmp_path: Path):
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=_kill_one_analysing_worker, args=(stop, killed), daemon=True)
    killer.start()
    try:
        result = cli(tmp_path, "corpus", "ingest", str(SAMPLE), *FAST, "--workers", "2", "--json")
    finally:
        stop.set()
        killer.join()
    assert killed, "no worker was seen analysing"
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["books"][0]["status"] == "done"
    assert_same_store(tmp_path, single, "story")


@pytest.mark.slow
def test_sigkill_of_the_command_then_rerun_finishes_equal(ray_address: str, single: Path, tmp_path: Path):
    home = tmp_path / "home"
    args = [sys.executable, "-m", "automuse_rag", "--home", str(home), "corpus", "ingest", str(SAMPLE), *FAST]
    args += ["--workers", "2", "--ray-address", ray_address, "--json"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO, env=env)
    db = home / "stores" / "story" / "state.sqlite"
    # Ray's workers run niced: on cores shared with other jobs the first commits can take
    # minutes (0 chunks after 120 s at load 6), so wait long; an idle machine takes seconds
    deadline = time.monotonic() + 600
    while committed_chunks(db) < 16 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    at_kill = committed_chunks(db)
    assert 16 <= at_kill < 100, at_kill
    rerun = subprocess.run(args, capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    book = json.loads(rerun.stdout)["books"][0]
    assert book["status"] == "done" and book["new_chunks"] == book["chunks"] - at_kill
    assert_same_store(home, single, "story")


def _lore_server(body: dict, headers: dict) -> tuple[int, str, tuple[int, int]]:
    text = last_user(body)
    if text.startswith("Passage (chapter"):
        return 200, json.dumps(lore_reply(text)), (50, 20)
    return 200, "Merged: " + " ".join(text.split()[-40:]), (10, 5)


@pytest.mark.slow
def test_model_calls_on_workers_equal_single_ingest_and_a_rerun_pays_none(
    ray_address: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    for var in ("OPENAI_API_KEY", "AUTOMUSE_OPENAI_API_KEY", "AUTOMUSE_LORE_MODE", "AUTOMUSE_OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    args = ["--llm", "openai:m", "--embedder", "hash:32", "--size", "2000"]
    text = SAMPLE.read_text(encoding="utf-8")
    half = tmp_path / "story.txt"
    half.write_text(text[: text.index("\n\n", 14_000)] + "\n", encoding="utf-8")  # the first half: fewer calls
    with Loopback(_lore_server, latency=0.05) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        home, alone = tmp_path / "corpus", tmp_path / "alone"
        result = cli(home, "corpus", "ingest", str(half), *args, "--workers", "2", "--concurrency", "3", "--json")
        assert result.exit_code == 0, result.output
        book = json.loads(result.stdout)["books"][0]
        lore_calls = sum(last_user(b).startswith("Passage (chapter") for b in server.requests)
        assert lore_calls == book["chunks"] and book["model_calls"] == len(server.requests) > book["chunks"]  # + the outline's
        assert server.max_in_flight > 1
        single_run = cli(alone, "ingest", str(half), *args)
        assert single_run.exit_code == 0, single_run.output
        assert_same_store(home, alone, "story")
        assert any(d.startswith("named in: ") for e in snapshot(home, "story")["lore"]["entities"] for d in _descriptions(e))

        asked = len(server.requests)
        assert cli(home, "stories", "rm", "story", "--yes").exit_code == 0
        again = cli(home, "corpus", "ingest", str(half), *args, "--workers", "2", "--json")
        assert again.exit_code == 0, again.output
        redo = json.loads(again.stdout)["books"][0]
        assert redo["model_calls"] == 0 and redo["cache_hits"] == book["model_calls"]
        assert len(server.requests) == asked  # every answer came from the call cache
        assert_same_store(home, alone, "story")


def _descriptions(entity: dict) -> list[str]:
    return [d if isinstance(d, str) else str(d[-1]) for d in entity.get("descriptions", [])]


def test_an_epub_reads_as_its_chapters_text(tmp_path: Path):
    from automuse_rag.books import read_book_file
    from automuse_rag.manuscript import Manuscript, ManuscriptChapter, write_epub

    chapters = [
        ManuscriptChapter(1, "Chapter I", ["Edith Marlowe walked to the harbour.", "She met Henry Dunmore there."]),
        ManuscriptChapter(2, "Chapter II", ["The storm broke over Hollin Island."]),
    ]
    path = write_epub(Manuscript("The Test", "An Author", chapters), tmp_path / "test.epub")
    book = read_book_file(path)
    assert "Edith Marlowe walked to the harbour.\n\nShe met Henry Dunmore there." in book.text
    assert book.text.index("Henry Dunmore") < book.text.index("Hollin Island") and "Chapter II" in book.text
    (tmp_path / "broken.epub").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(InputError, match="not a readable EPUB"):
        read_book_file(tmp_path / "broken.epub")


@pytest.mark.slow
def test_collections_go_to_the_chroma_server_given(
    ray_address: str,
    single: Path,
    tmp_path: Path,
    chroma_server: str,
):
    home = tmp_path / "home"
    result = cli(home, "corpus", "ingest", str(SAMPLE), *FAST, "--chroma-url", chroma_server, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads((home / "stores" / "story" / "story.json").read_text())["chroma_url"] == chroma_server
    assert not (home / "stores" / "story" / "chroma").exists()  # nothing embedded
    assert_same_store(home, single, "story")
