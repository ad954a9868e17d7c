"""Token counting: the never-undercounting estimate and time-boxed tiktoken loading."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import gutenberg_path

from automuse_rag.models import tokens
from automuse_rag.models.local import find_gguf
from automuse_rag.models.tokens import OpenAITokenCounter, estimate_tokens, tiktoken_encoding


@pytest.fixture(scope="module")
def local_tokenize():
    from llama_cpp import Llama

    vocab = Llama(model_path=str(find_gguf()), vocab_only=True, verbose=False)
    return lambda text: vocab.tokenize(text.encode("utf-8"), add_bos=False, special=False)


@pytest.mark.parametrize("book_id", [11, 84, 64317, 1342])
def test_estimate_never_undercounts_the_local_tokenizer_on_real_books(shared_data: Path, local_tokenize, book_id: int) -> None:
    text = gutenberg_path(shared_data, book_id).read_text(encoding="utf-8-sig")
    pieces = [text[i : i + 700] for i in range(0, len(text), 700)] + text.splitlines()[:3000]
    under = [p for p in pieces if estimate_tokens(p) < len(local_tokenize(p))]
    assert not under, f"undercounted: {under[:3]!r}"
    whole_estimate, whole_real = estimate_tokens(text[:200_000]), len(local_tokenize(text[:200_000]))
    assert whole_real <= whole_estimate <= 3 * whole_real  # conservative, not absurd


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1234567890 9876543210",
        "\u201cQuoth\u201d \u2014 the raven: \u00e9\u00e8\u00ea \u4e2d\u6587 \U0001f600",
        "    indented\n\n\n\tcode()  {x=1;}",
        "Xzqjv Pfftt Brrr! ??!!..",
        "a b c d e f g h i j",
    ],
)
def test_estimate_never_undercounts_odd_text(local_tokenize, text: str) -> None:
    assert estimate_tokens(text) >= len(local_tokenize(text))


def test_unknown_models_fall_back_to_the_estimate() -> None:
    assert tiktoken_encoding("smollm2-served-by-vllm") is None
    counter = OpenAITokenCounter("smollm2-served-by-vllm")
    assert counter.method == "estimate"
    assert counter.count("Hello there, General Kenobi.") == estimate_tokens("Hello there, General Kenobi.")


def test_a_hanging_tiktoken_load_is_time_boxed() -> None:
    start = time.perf_counter()
    assert tokens._load_with_timeout(lambda: time.sleep(30), timeout=0.3) is None
    assert time.perf_counter() - start < 2
    assert tokens._load_with_timeout(lambda: 1 / 0, timeout=1) is None
    assert tokens._load_with_timeout(lambda: "enc", timeout=1) == "enc"


def test_known_openai_model_counts_with_tiktoken_or_estimate_quickly() -> None:
    start = time.perf_counter()
    counter = OpenAITokenCounter("gpt-4o-mini", timeout=3)
    n = counter.count("The quick brown fox jumps over the lazy dog.")
    assert time.perf_counter() - start < 10
    assert counter.method in ("estimate", "tiktoken:o200k_base")
    assert 9 <= n <= estimate_tokens("The quick brown fox jumps over the lazy dog.")


def test_the_local_model_counts_without_llama_cpp_and_like_the_full_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from automuse_rag.models import gguf_vocab, local
    from automuse_rag.models.local import LocalChatModel
    from automuse_rag.settings import get_settings

    monkeypatch.setattr(local, "_models", {})  # as in a fresh process
    monkeypatch.setattr(local, "_vocabs", {})
    monkeypatch.setattr(gguf_vocab, "_loaded", {})
    model = LocalChatModel(get_settings(home=tmp_path, n_ctx=512))
    texts = ["Call me Ishmael.", "Mr. Darcy's 10,000 a year—“quoted”", "東京\n\n  tabs\t", ""]
    counts = [model.count_tokens(t) for t in texts]
    assert local._models == {} and local._vocabs == {}  # llama.cpp loaded nothing to count
    assert gguf_vocab.vocab_file(model.path, gguf_vocab.vocab_cache_dir(tmp_path)).is_file()
    full = model.llama  # the whole model, loaded now
    assert counts == [len(full.tokenize(t.encode("utf-8"), add_bos=False, special=False)) for t in texts]
    assert model.tokenize("Call me Ishmael.") == full.tokenize(b"Call me Ishmael.", add_bos=False, special=False)
    for opened in [*local._models.values(), *local._vocabs.values()]:  # closed here, not at exit
        opened.close()


def test_a_vocabulary_that_cannot_be_converted_counts_with_llama_cpps_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from automuse_rag.models import gguf_vocab, local
    from automuse_rag.models.local import LocalChatModel
    from automuse_rag.settings import get_settings

    monkeypatch.setattr(local, "_models", {})
    monkeypatch.setattr(local, "_vocabs", {})
    monkeypatch.setattr(gguf_vocab, "_loaded", {})
    monkeypatch.setattr(gguf_vocab, "PRE_TOKENIZERS", {})  # as for a model whose split is not reproduced
    model = LocalChatModel(get_settings(home=tmp_path, n_ctx=512))
    count = model.count_tokens("Mr. Darcy's 10,000 a year")
    loaded = [key for key in local._models if key[0] == str(model.path)]
    assert loaded == [] and str(model.path) in local._vocabs  # the vocabulary alone, no weights
    vocab = local._vocabs[str(model.path)]
    assert count == len(vocab.tokenize(b"Mr. Darcy's 10,000 a year", add_bos=False, special=False))
    cached = gguf_vocab.vocab_file(model.path, gguf_vocab.vocab_cache_dir(tmp_path))
    assert cached.read_text(encoding="utf-8") == gguf_vocab.UNSUPPORTED  # not converted again next time
    for opened in [*local._models.values(), *local._vocabs.values()]:
        opened.close()


ODD_PIECES = ["a", "b", " ", "\n", "\n\n", ".", "'s", "1", "\t", "\u00a0", "é", "—", "\r", "’", "\x1c", "\u2028", "\u0085"]
ODD_PIECES += ["- ", "…", "A", "  ", "\n ", " \n", "東京", "\n- Mr. Darcy (character)", "\n\nLAST CHUNK:\n"]


def test_the_local_model_counts_line_by_line_exactly(
    shared_data: Path, local_tokenize, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counting a text as the sum of its pieces (models/local_tokens.py: cut at newlines that
    follow a non-space character) gives the whole text's count, on book text with hard
    and soft line breaks, on prompts made of lines counted before, and on random mixes
    of the characters where a tokenizer's splitting could differ."""
    import random

    from automuse_rag.models import local, local_tokens
    from automuse_rag.models.local import LocalChatModel
    from automuse_rag.settings import get_settings

    monkeypatch.setattr(local_tokens, "PIECE_COUNT_MEMO", 30)  # evictions happen too
    model = LocalChatModel(get_settings(home=tmp_path, n_ctx=512))
    text = gutenberg_path(shared_data, 1342).read_text(encoding="utf-8-sig")[20_000:80_000]
    chunks = [text[i : i + 1500] for i in range(0, len(text), 1500)]
    rng = random.Random(0)
    prompts = ["\n\n".join(rng.sample(chunks, 3)) + "\n\nNEXT CHUNK:" for _ in range(20)]
    cuts = ["…" + c[rng.randrange(len(c)) :] for c in chunks] + [line for c in chunks[:5] for line in c.split("\n")]
    odd = ["".join(rng.choice(ODD_PIECES) for _ in range(rng.randint(1, 30))) for _ in range(3000)]
    texts = chunks + prompts + cuts + odd + prompts
    assert model._count_uncached("x") == 1 and model.tokens._by_lines  # the shipped model's vocabulary splits by lines
    counted = [model._count_uncached(t) for t in texts]
    assert counted == [len(local_tokenize(t)) for t in texts]
    assert len(model.tokens._pieces) <= 31
    assert local_tokens.token_count(local.load_vocab(model.path), b"Call me Ishmael.\n") == 5
