"""``automuse books`` and ``automuse chunk`` through the CLI, including every bad input."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from conftest import SAMPLE_DIR, gutenberg_path
from typer.testing import CliRunner

from automuse_rag.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def assert_one_line_error(result, *words: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for word in words:
        assert word.lower() in lines[0].lower()


# --------------------------------------------------------------------------- chunk on real books

EXPECTED = {"11": 12, "1342": 61, "64317": 9, "84": 28}


@pytest.mark.parametrize("gid", sorted(EXPECTED))
def test_chunk_json_on_shared_books(home: Path, gutenberg_mirror: Path, gid: str) -> None:
    result = run("chunk", gid, "--mirror", str(gutenberg_mirror), "--json")
    assert result.exit_code == 0, result.output
    chunks = json.loads(result.stdout)
    assert {"index", "id", "chapter", "chapter_title", "start", "end", "text"} <= set(chunks[0])
    assert sorted({c["chapter"] for c in chunks} - {0}) == list(range(1, EXPECTED[gid] + 1))
    assert all(len(c["text"]) <= 1500 for c in chunks)
    assert [c["index"] for c in chunks] == list(range(len(chunks)))
    assert not any("gutenberg" in c["text"].lower() for c in chunks)
    # exactly the words between the START and END markers, in order: only boilerplate went
    source = gutenberg_path(gutenberg_mirror.parent, int(gid)).read_text(encoding="utf-8")
    inner = source[source.index("\n", source.index("*** START OF")) : source.index("*** END OF")]
    assert re.findall(r"\w+", "\n".join(c["text"] for c in chunks)) == re.findall(r"\w+", inner)


def test_chunk_table_for_alice_and_size_option(home: Path, gutenberg_mirror: Path) -> None:
    result = run("chunk", "alice", "--mirror", str(gutenberg_mirror))
    assert result.exit_code == 0, result.output
    assert "12 chapters" in result.stdout and "Down the" in result.stdout
    small = json.loads(run("chunk", "alice", "--size", "500", "--json").stdout)
    large = json.loads(run("chunk", "alice", "--json").stdout)
    assert len(small) > 2 * len(large) and max(len(c["text"]) for c in small) <= 500


def test_chunk_sample_story() -> None:
    chunks = json.loads(run("chunk", "sample", "--json").stdout)
    headings = [
        line for line in (SAMPLE_DIR / "story.txt").read_text(encoding="utf-8").splitlines() if line.startswith("CHAPTER ")
    ]
    assert sorted({c["chapter"] for c in chunks}) == list(range(1, len(headings) + 1))
    assert chunks[0]["id"].startswith("sample:00000:") and chunks[0]["text"].startswith(headings[0])


def test_chunk_in_tokens_with_a_named_model(tmp_path: Path) -> None:
    story = tmp_path / "s.txt"
    story.write_text("\n\n".join(f"Paragraph {i}: " + "many words here " * 20 for i in range(30)), encoding="utf-8")
    chunks = json.loads(run("chunk", str(story), "--tokens", "100", "--llm", "fake", "--json").stdout)
    from automuse_rag.models.fake import count_words_and_marks

    assert len(chunks) > 5 and all(count_words_and_marks(c["text"]) <= 100 for c in chunks)


# --------------------------------------------------------------------------- bad input


def _png(path: Path) -> None:
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)


def _zip(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("book.txt", "Some text " * 100)


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (None, ["no such file"]),
        ("dir", ["directory"]),
        (lambda p: p.write_bytes(b""), ["empty"]),
        (lambda p: p.write_bytes(b"\n \n\t\n"), ["empty"]),
        (_png, ["PNG", "not a text file"]),
        (_zip, ["ZIP", "not a text file"]),
        (lambda p: p.write_bytes(bytes(range(256)) * 20), ["not a text file"]),
    ],
    ids=["missing", "directory", "empty", "blank", "png", "zip", "random-binary"],
)
def test_bad_input_is_one_line_exit_2(tmp_path: Path, make, words: list[str]) -> None:
    target = tmp_path / "book.txt"
    if make == "dir":
        target.mkdir()
    elif make is not None:
        make(target)
    assert_one_line_error(run("chunk", str(target)), *words)


def test_bad_input_through_the_installed_command(tmp_path: Path) -> None:
    target = tmp_path / "image.png"
    _png(target)
    exe = Path(sys.executable).parent / "automuse"
    result = subprocess.run([str(exe), "chunk", str(target)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr + result.stdout and str(target) in result.stderr


def test_bad_sizes_are_usage_errors(tmp_path: Path) -> None:
    target = tmp_path / "s.txt"
    target.write_text("Some words.", encoding="utf-8")
    result = run("chunk", str(target), "--size", "0")
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_text_without_paragraph_breaks(tmp_path: Path) -> None:
    sentences = [f"Sentence number {i} tells of the sea and the light at the point." for i in range(400)]
    target = tmp_path / "flat.txt"
    target.write_text(" ".join(sentences), encoding="utf-8")
    result = run("chunk", str(target), "--size", "300", "--json")
    assert result.exit_code == 0
    chunks = json.loads(result.stdout)
    assert all(len(c["text"]) <= 300 for c in chunks)
    assert all(c["text"].endswith(".") for c in chunks)  # split at sentence ends
    assert " ".join(c["text"] for c in chunks) == " ".join(sentences)


def test_fifty_megabyte_file(tmp_path: Path) -> None:
    paragraph = ("The keeper climbed the forty-seven steps and lit the lamp; “again,” he said, café noir in hand. " * 12).strip()
    chapter = "\n\n".join([paragraph] * 400)
    count = 50_000_000 // len(chapter.encode("utf-8")) + 1
    target = tmp_path / "big.txt"
    with target.open("w", encoding="utf-8") as handle:
        for number in range(1, count + 1):
            handle.write(f"CHAPTER {number}. Part {number}\n\n{chapter}\n\n")
    assert target.stat().st_size >= 50_000_000
    started = time.monotonic()
    result = run("chunk", str(target))
    elapsed = time.monotonic() - started
    assert result.exit_code == 0, result.output
    assert f"{count} chapters" in result.stdout
    assert elapsed < 120  # generous: about 6 s on the reference machine


# --------------------------------------------------------------------------- books commands


def test_books_list_and_get(home: Path, gutenberg_mirror: Path) -> None:
    listed = json.loads(run("books", "list", "--json").stdout)
    assert {"alice", "frankenstein", "gatsby", "pride", "sherlock"} <= {b["name"] for b in listed}
    assert not any(b["downloaded"] for b in listed)
    got = run("books", "get", "alice", "84", "--mirror", str(gutenberg_mirror))
    assert got.exit_code == 0 and got.stdout.count("downloaded") == 2
    again = run("books", "get", "alice", "--mirror", "http://127.0.0.1:9")
    assert again.exit_code == 0 and "already present" in again.stdout
    listed = {b["name"]: b["downloaded"] for b in json.loads(run("books", "list", "--json").stdout)}
    assert listed["alice"] and listed["frankenstein"] and not listed["gatsby"]
    assert "alice" in run("books", "list").stdout


def test_books_get_unreachable_mirror(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOMUSE_GUTENBERG_MIRROR", "http://127.0.0.1:9")
    result = run("books", "get", "gatsby")
    assert_one_line_error(result, "127.0.0.1:9", "AUTOMUSE_GUTENBERG_MIRROR", "--mirror")
    assert_one_line_error(run("books", "get", "not-a-book"), "not-a-book")


@pytest.mark.parametrize("command", [["chunk"], ["books"], ["books", "list"], ["books", "get"]])
def test_help_has_an_example(command: list[str]) -> None:
    result = run(*command, "--help")
    assert result.exit_code == 0 and "Example: automuse" in result.stdout
