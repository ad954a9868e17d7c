"""Speed of the text pipeline: decode + clean + chunk, on the shared books, the sample
story and a generated 50 MB file. Writes a table into docs/benchmarks.md between the
``<!-- bench:text -->`` markers.

    .venv/bin/python benchmarks/text.py
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from automuse_rag.text.chunk import chunk_book  # noqa: E402
from automuse_rag.text.clean import clean_text, decode_bytes  # noqa: E402

BOOKS = {11: "Alice", 84: "Frankenstein", 64317: "Gatsby", 1342: "Pride and Prejudice"}
MARK_START, MARK_END = "<!-- bench:text -->", "<!-- /bench:text -->"


def shared_data() -> Path:
    env = os.environ.get("AUTOMUSE_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def measure(path: Path, label: str) -> dict:
    data = path.read_bytes()
    started = time.perf_counter()
    text = decode_bytes(data, str(path))
    decoded = time.perf_counter()
    book = clean_text(text, str(path))
    cleaned = time.perf_counter()
    chunks = chunk_book(book, "bench")
    done = time.perf_counter()
    return {
        "label": label,
        "mb": len(data) / 1e6,
        "chapters": sum(1 for c in book.chapters if c.number > 0),
        "chunks": len(chunks),
        "decode": decoded - started,
        "clean": cleaned - decoded,
        "chunk": done - cleaned,
        "total": done - started,
    }


def big_file(directory: Path) -> Path:
    paragraph = ("The keeper climbed the forty-seven steps and lit the lamp; “again,” he said. " * 12).strip()
    chapter = "\n\n".join([paragraph] * 400)
    path = directory / "big.txt"
    with path.open("w", encoding="utf-8") as handle:
        number = 0
        while handle.tell() < 50_000_000:
            number += 1
            handle.write(f"CHAPTER {number}. Part {number}\n\n{chapter}\n\n")
    return path


def render(rows: list[dict], peak_mb: float) -> str:
    lines = [
        "Text pipeline (decode + clean + chunk at 1,500 characters), one run each.",
        "Command: `.venv/bin/python benchmarks/text.py`",
        "",
        "| text | MB | chapters | chunks | decode s | clean s | chunk s | total s | MB/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['label']} | {r['mb']:.2f} | {r['chapters']} | {r['chunks']} | {r['decode']:.3f} | "
            f"{r['clean']:.3f} | {r['chunk']:.3f} | {r['total']:.3f} | {r['mb'] / r['total']:.1f} |"
        )
    lines += ["", f"Peak resident memory of the whole run (includes the 50 MB file): {peak_mb:.0f} MB."]
    return "\n".join(lines)


def write_section(body: str) -> None:
    doc = REPO / "docs" / "benchmarks.md"
    text = doc.read_text(encoding="utf-8")
    if MARK_START not in text:
        text = text.rstrip("\n") + f"\n\n{MARK_START}\n{MARK_END}\n"
    head, rest = text.split(MARK_START, 1)
    _, tail = rest.split(MARK_END, 1)
    doc.write_text(f"{head}{MARK_START}\n{body}\n{MARK_END}{tail}", encoding="utf-8")


def main() -> None:
    shared = shared_data()
    rows = [
        measure(shared / "gutenberg" / "cache" / "epub" / str(i) / f"pg{i}.txt", f"{name} ({i})") for i, name in BOOKS.items()
    ]
    sample = REPO / "books" / "sample" / "story.txt"
    if sample.is_file():
        rows.append(measure(sample, "sample story"))
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(measure(big_file(Path(tmp)), "generated 50 MB"))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    body = render(rows, peak)
    print(body)
    write_section(body)


if __name__ == "__main__":
    main()
