"""Every bad input of the hardening issue, through the CLI: one ``error:`` line on
stderr, exit code 2, no traceback, and ``stores/`` exactly as it was (no new store
directory, no lock file, no changed file).

Commands that need a story get a copy of a small stored one ("tiny"), so the
snapshot proves a failed command did not touch an existing store either.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import SAMPLE_DIR
from typer.testing import CliRunner

from automuse_rag.cli import app

runner = CliRunner()
STORY = "tiny"


def _outside(at: int) -> tuple[str, str]:
    """The one message for a position outside the story (its last chunk aside)."""
    return (f"error: position {at} is outside story '{STORY}', which has chunks 0..", "(use -1 for before the first)")


HTML = "<!DOCTYPE html>\n<html><head><title>Pride and Prejudice</title></head>\n<body><p>It is a truth universally acknowledged.</p></body></html>\n"


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home holding story "tiny" (the sample story, extractive, hash embedder)."""
    home = tmp_path_factory.mktemp("tiny-home")
    result = runner.invoke(
        app,
        [
            "--home",
            str(home),
            "ingest",
            str(SAMPLE_DIR / "story.txt"),
            "--story",
            STORY,
            "--llm",
            "extractive",
            "--embedder",
            "hash:32",
            "--size",
            "3000",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    return home / "stores"


@pytest.fixture
def with_story(home: Path, tiny_store: Path) -> Path:
    shutil.copytree(tiny_store, home / "stores")
    return home


def snapshot(stores: Path) -> dict[str, str]:
    """Every path under stores/ with a digest of its content ('dir' for directories).
    Chroma's own files are compared by presence and size only: Chroma adds a row to
    its ``acquire_write`` table in ``chroma.sqlite3`` whenever a client opens it, even
    to read, and its embedded engine rewrites each HNSW segment's ``*.bin`` files when
    it loads them (measured with chromadb 1.x: every ``query`` changes the bytes of
    ``length.bin`` and ``data_level0.bin``, never their size or the records they hold).
    Whether the index still holds the same records is ``automuse check``'s job."""
    if not stores.exists():
        return {}
    out = {}
    for path in sorted(stores.rglob("*")):
        rel = str(path.relative_to(stores))
        if path.is_dir():
            out[rel] = "dir"
        elif "chroma" in path.relative_to(stores).parts[1:2]:
            out[rel] = f"chroma:{path.stat().st_size if path.name != 'chroma.sqlite3' else ''}"
        else:
            out[rel] = hashlib.sha1(path.read_bytes()).hexdigest()
    return out


def _file(home: Path, name: str, text: str) -> Path:
    path = home.parent / f"{home.name}-{name}"
    path.write_text(text, encoding="utf-8")
    return path


def _dir(home: Path, name: str) -> Path:
    path = home.parent / f"{home.name}-{name}"
    path.mkdir()
    return path


SAMPLE = str(SAMPLE_DIR / "story.txt")
INGEST = ["ingest", SAMPLE, "--llm", "extractive", "--embedder", "hash:32"]

# (id, needs the stored story, args builder(home) -> argv, words the error line must contain)
Case = tuple[str, bool, Callable[[Path], list[str]], tuple[str, ...]]
CASES: list[Case] = [
    ("story-trailing-newline", False, lambda h: [*INGEST, "--story", "abc\n"], ("bad story name",)),
    ("story-empty", False, lambda h: [*INGEST, "--story", ""], ("story name is empty",)),
    ("chunk-story-trailing-newline", False, lambda h: ["chunk", SAMPLE, "--story", "abc\n"], ("bad story name",)),
    (
        "generate-story-trailing-newline",
        False,
        lambda h: [
            "generate",
            "--premise",
            "A clockmaker inherits a workshop where every clock has stopped.",
            "--story",
            "abc\n",
            "--llm",
            "extractive",
        ],
        ("bad story name",),
    ),
    (
        "generate-story-empty",
        False,
        lambda h: [
            "generate",
            "--premise",
            "A clockmaker inherits a workshop where every clock has stopped.",
            "--story",
            "",
            "--llm",
            "extractive",
        ],
        ("story name is empty",),
    ),
    ("story-dotdot", False, lambda h: [*INGEST, "--story", "a..b"], ("bad story name",)),
    ("chroma-url-bad-ipv6", False, lambda h: [*INGEST, "--story", "x", "--chroma-url", "http://[::1"], ("chroma url", "ipv6")),
    (
        "chroma-url-port-range",
        False,
        lambda h: [*INGEST, "--story", "x", "--chroma-url", "http://127.0.0.1:99999"],
        ("chroma url", "port"),
    ),
    (
        "chroma-url-port-zero",
        False,
        lambda h: [*INGEST, "--story", "x", "--chroma-url", "http://127.0.0.1:0"],
        ("chroma url", "port 0"),
    ),
    (
        "chroma-url-scheme",
        False,
        lambda h: [*INGEST, "--story", "x", "--chroma-url", "ftp://127.0.0.1:8000"],
        ("chroma url", "scheme"),
    ),
    ("chroma-url-no-host", False, lambda h: [*INGEST, "--story", "x", "--chroma-url", "http://:8000"], ("chroma url", "no host")),
    ("chroma-url-path", False, lambda h: [*INGEST, "--story", "x", "--chroma-url", "http://127.0.0.1:8000/api"], ("chroma url",)),
    ("html-chunk", False, lambda h: ["chunk", str(_file(h, "page.html", HTML))], ("html",)),
    ("html-ingest", False, lambda h: [*INGEST[:1], str(_file(h, "page.txt", HTML)), *INGEST[2:], "--story", "web"], ("html",)),
    (
        "export-out-dir",
        True,
        lambda h: ["export", "--story", STORY, "--out", str(_dir(h, "outdir"))],
        ("is a directory", "tiny.md"),
    ),
    (
        "export-out-under-file",
        True,
        lambda h: ["export", "--story", STORY, "--out", str(_file(h, "afile", "x") / "m.md")],
        ("is a file",),
    ),
    (
        "graphml-dir",
        True,
        lambda h: ["characters", "--story", STORY, "--graphml", str(_dir(h, "gdir"))],
        ("--graphml", "is a directory"),
    ),
    (
        "graphml-under-file",
        True,
        lambda h: ["characters", "--story", STORY, "--graphml", str(_file(h, "gfile", "x") / "sub" / "g.graphml")],
        ("is a file",),
    ),
    ("graph-out-dir", True, lambda h: ["graph", "--story", STORY, "--out", str(_dir(h, "g.graphml"))], ("is a directory",)),
    (
        "dataset-out-dir",
        True,
        lambda h: ["dataset", "--story", STORY, "--llm", "extractive", "--out", str(_dir(h, "ds"))],
        ("is a directory",),
    ),
    (
        "compare-out-file",
        True,
        lambda h: ["compare", "--story", STORY, "--llm", "extractive", "--out", str(_file(h, "report", "x"))],
        ("is a file",),
    ),
    ("as-of-beyond", True, lambda h: ["characters", "--story", STORY, "--as-of", "999999"], _outside(999999)),
    ("characters-at-minus-2", True, lambda h: ["characters", "--story", STORY, "--at", "-2"], _outside(-2)),
    ("query-at-beyond", True, lambda h: ["query", "--story", STORY, "Hollin Island", "--at", "999"], _outside(999)),
    (
        "prompt-chapter-99",
        True,
        lambda h: ["prompt", "--story", STORY, "--at", "3", "--llm", "extractive", "--chapter", "99"],
        ("--chapter 99", "no such chapter"),
    ),
    (
        "prompt-chapter-minus-1",
        True,
        lambda h: ["prompt", "--story", STORY, "--at", "3", "--llm", "extractive", "--chapter", "-1"],
        ("--chapter -1", "no such chapter"),
    ),
    *(
        (f"embedder-{spec}", False, lambda h, spec=spec: [*INGEST[:-1], spec, "--story", "x"], (spec, "dimension"))
        for spec in ("hash:0", "hash:-1", "hash:abc", "hash:1.5", "hash:99999999")
    ),
    (
        "generate-embedder-hash-0",
        False,
        lambda h: (
            ["generate", "--premise", "A clockmaker inherits a workshop.", "--story", "x", "--llm", "fake"]
            + ["--embedder", "hash:0"]
        ),
        ("hash:0", "dimension"),
    ),
    ("embedder-hash-0-env", False, lambda h: [*INGEST[:-2], "--story", "x"], ("hash:0", "dimension")),
    ("bad-setting-env", False, lambda h: [*INGEST, "--story", "x"], ("automuse_concurrency",)),
    ("misspelt-setting-env", False, lambda h: [*INGEST, "--story", "x"], ("AUTOMUSE_BUDGTE", "did you mean AUTOMUSE_BUDGET")),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_leaves_stores_untouched(
    case: Case, home: Path, tiny_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name, needs_story, build, words = case
    if needs_story:
        shutil.copytree(tiny_store, home / "stores")
    if name == "bad-setting-env":
        monkeypatch.setenv("AUTOMUSE_CONCURRENCY", "lots")
    if name == "embedder-hash-0-env":
        monkeypatch.setenv("AUTOMUSE_EMBEDDER", "hash:0")
    if name == "misspelt-setting-env":
        monkeypatch.setenv("AUTOMUSE_BUDGTE", "100")
    before = snapshot(home / "stores")
    result = runner.invoke(app, build(home))
    assert_one_line_error(result, *words)
    assert snapshot(home / "stores") == before
    if needs_story:
        healthy = runner.invoke(app, ["--home", str(home), "check", "--story", STORY])
        assert healthy.exit_code == 0, healthy.output


def test_settings_refuse_unknown_keywords_but_not_other_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from automuse_rag.settings import get_settings

    with pytest.raises(TypeError, match="budgte"):
        get_settings(home=tmp_path, budgte=100)
    monkeypatch.setenv("AUTOMUSE_SHARED_DATA", str(tmp_path))  # read by the tests, not a setting
    monkeypatch.setenv("BUDGTE", "1")  # no prefix: not looked at
    assert get_settings(home=tmp_path, budget=100).budget == 100


def assert_one_line_error(result, *words: str, code: int = 2) -> None:
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # not an uncaught exception
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word.lower() in lines[0].lower(), lines[0]


@pytest.mark.parametrize("command", [["stories"], ["books", "list"], INGEST + ["--story", "x"], ["characters", "--story", "x"]])
def test_home_under_a_regular_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("not a directory")
    monkeypatch.setenv("AUTOMUSE_HOME", str(blocker / "home"))
    result = runner.invoke(app, command)
    assert_one_line_error(result, "AUTOMUSE_HOME", "is a file")
    assert blocker.read_text() == "not a directory"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]
    monkeypatch.setenv("AUTOMUSE_HOME", str(blocker))  # the home itself is a file
    assert_one_line_error(runner.invoke(app, command), "AUTOMUSE_HOME")


def test_compare_out_is_checked_before_the_run(with_story: Path, tmp_path: Path) -> None:
    import time

    target = tmp_path / "report-file"
    target.write_text("x")
    start = time.monotonic()
    result = runner.invoke(app, ["compare", "--story", STORY, "--llm", "extractive", "--no-plots", "--out", str(target)])
    assert_one_line_error(result, "--out", "is a file")
    assert time.monotonic() - start < 5 and target.read_text() == "x"


# --------------------------------------------------------------------------- what works


def test_outputs_with_missing_parents_are_written(with_story: Path, tmp_path: Path) -> None:
    graphml = tmp_path / "new" / "deeper" / "tiny.graphml"
    result = runner.invoke(app, ["characters", "--story", STORY, "--graphml", str(graphml), "--json"])
    assert result.exit_code == 0, result.output
    assert graphml.read_text(encoding="utf-8").lstrip().startswith("<?xml")
    out = tmp_path / "made" / "tiny.txt"
    result = runner.invoke(app, ["export", "--story", STORY, "--format", "txt", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 1000
    assert sorted(p.name for p in out.parent.iterdir()) == ["tiny.txt"]  # no temp file left


def test_valid_as_of_and_chapter_still_work(with_story: Path) -> None:
    import json

    last = json.loads(runner.invoke(app, ["query", "--story", STORY, "Hollin Island", "--json"]).stdout)
    assert last["hits"]
    ok = runner.invoke(app, ["characters", "--story", STORY, "--as-of", "0", "--json"])
    assert ok.exit_code == 0, ok.output
    at = runner.invoke(app, ["characters", "--story", STORY, "--at", "0", "--json"])  # --as-of is its alias
    assert at.exit_code == 0 and json.loads(at.stdout) == json.loads(ok.stdout) != []
    before = runner.invoke(app, ["characters", "--story", STORY, "--at", "-1", "--json"])
    assert before.exit_code == 0 and json.loads(before.stdout) == []
    prompt = runner.invoke(app, ["prompt", "--story", STORY, "--at", "3", "--llm", "extractive", "--chapter", "1", "--json"])
    assert prompt.exit_code == 0, prompt.output


def test_a_huge_text_without_spaces_is_chunked_and_ingested(home: Path, tmp_path: Path) -> None:
    import json

    from automuse_rag.memory.story import StoryMemory
    from automuse_rag.settings import get_settings

    book = tmp_path / "wall.txt"
    book.write_text("Wall\n\n" + "abcdefghij" * 120_000 + "\n", encoding="utf-8")
    chunked = runner.invoke(app, ["chunk", str(book), "--size", "20000"])
    assert chunked.exit_code == 0, chunked.output
    assert "≤ 20000 characters" in chunked.stdout and "max 20000" in chunked.stdout
    sizes = [len(c["text"]) for c in json.loads(runner.invoke(app, ["chunk", str(book), "--json"]).stdout)]
    assert max(sizes) == 1500 and sum(sizes) == 1_200_004
    result = runner.invoke(
        app,
        ["ingest", str(book), "--story", "wall", "--llm", "extractive", "--embedder", "hash:16", "--size", "100000", "--json"],
    )
    assert result.exit_code == 0, result.output
    memory = StoryMemory.open(get_settings(), "wall")
    try:
        assert len(memory) == 13 and all(len(r.text) <= 100_000 for r in memory.latest().records())
    finally:
        memory.close()


def test_ner_never_sees_more_than_spacy_max_length(monkeypatch: pytest.MonkeyPatch) -> None:
    from automuse_rag.lore.extract import analyze_chunk
    from automuse_rag.lore.ner import get_nlp
    from automuse_rag.text.types import Chunk

    nlp = get_nlp()
    monkeypatch.setattr(nlp, "max_length", 2000)
    text = "Elizabeth Bennet walked to Netherfield. " * 200  # 8000 characters
    chunk = Chunk(0, "t:00000:x", 1, "", 0, len(text), text)
    analysis = analyze_chunk(chunk, None, nlp)  # spaCy would raise E088 on the whole text
    assert any(m.name == "Elizabeth Bennet" for m in analysis.mentions)
