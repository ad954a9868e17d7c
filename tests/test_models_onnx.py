"""minilm's query path without torch (models/onnx_minilm.py): the ONNX export agrees
with sentence-transformers, its cache is keyed by the weights, and a one-shot ``query``
never imports torch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import REPO, SAMPLE_DIR, cli

from automuse_rag.models import onnx_minilm
from automuse_rag.models.embedders import load_sentence_transformer, minilm_path
from automuse_rag.models.onnx_minilm import OnnxMiniLM, ensure_onnx, onnx_cache_dir, weights_fingerprint


def _texts() -> list[str]:
    """Forty-odd texts: short and long (past the 256-token limit, so truncation must
    match), empty, blank, padded with spaces, accented, numeric, other scripts."""
    story = (SAMPLE_DIR / "story.txt").read_text(encoding="utf-8")
    words = story.split()
    texts = [
        "",
        " ",
        "\n\t",
        "whale",
        "Who is Arthur Blackwood?",
        "   who owns Hollin Island?   ",
        "WHO OWNS HOLLIN ISLAND",
        "Émile's café was naïve — “quoted” – and so on…",
        "1,234,567.89 £ 42% 3.14159",
        "東京は雨でした。 Москва́ — не сразу строилась.",
        "x" * 500,
        "a " * 400,
        "The letter arrived on a Tuesday; nobody opened it until the storm had passed.",
    ]
    for size in (1, 3, 8, 20, 60, 150, 200, 240, 300, 400, 700, 1200):
        start = (size * 37) % max(1, len(words) - size)
        texts.append(" ".join(words[start : start + size]))
    paragraphs = [p for p in story.split("\n\n") if p.strip()]
    texts.extend(paragraphs[i] for i in range(0, min(len(paragraphs), 80), 5))
    return texts


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """The export made the way the embedder makes it, and the sentence-transformers model."""
    model_dir = minilm_path()
    model = load_sentence_transformer(model_dir)
    path = ensure_onnx(model_dir, tmp_path_factory.mktemp("onnx-cache"), lambda: model)
    return path, model


@pytest.mark.slow
def test_onnx_vectors_agree_with_sentence_transformers(exported: tuple[Path, Any]) -> None:
    path, model = exported
    texts = _texts()
    assert len(texts) >= 40
    onnx = OnnxMiniLM(path, minilm_path(), threads=2)
    # its threads sleep between runs: spinning ones starve llama.cpp's in the same process
    assert onnx.session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning") == "0"
    lengths = [len(onnx.tokenizer.encode(t).ids) for t in texts]
    assert max(lengths) == 256 and sum(n == 256 for n in lengths) >= 5  # truncated ones are tested
    ref = model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
    together = np.array(onnx.embed(texts))  # padded batches
    alone = np.array([onnx.embed([t])[0] for t in texts])
    for got in (together, alone):
        assert got.shape == (len(texts), 384)
        assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
        cosines = np.sum(got * ref, axis=1)
        worst = int(np.argmin(cosines))
        assert 1.0 - cosines[worst] <= 1e-4, (texts[worst][:60], cosines[worst])


def _fake_model(directory: Path, weights: bytes) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.safetensors").write_bytes(weights)
    (directory / "config.json").write_text('{"hidden_size": 384}', encoding="utf-8")
    return directory


def test_the_export_is_reused_and_made_again_for_other_weights(tmp_path: Path) -> None:
    model_dir = _fake_model(tmp_path / "model", b"weights one" * 1000)
    cache = tmp_path / "cache"
    exports: list[Path] = []

    def export(model: Any, target: Path) -> None:
        assert model == "the model"
        exports.append(target)
        target.write_bytes(b"onnx of " + (model_dir / "model.safetensors").read_bytes()[:11])

    first = ensure_onnx(model_dir, cache, lambda: "the model", export)
    assert len(exports) == 1 and first.read_bytes() == b"onnx of weights one"
    assert ensure_onnx(model_dir, cache, lambda: "the model", export) == first and len(exports) == 1

    os.utime(model_dir / "model.safetensors")  # touched, same bytes: hashed again, same export
    assert ensure_onnx(model_dir, cache, lambda: "the model", export) == first and len(exports) == 1

    (model_dir / "model.safetensors").write_bytes(b"weights two" * 1000)
    second = ensure_onnx(model_dir, cache, lambda: "the model", export)
    assert second != first and len(exports) == 2 and second.read_bytes() == b"onnx of weights two"
    assert first.is_file()  # another install's weights keep theirs


def test_a_new_export_format_is_a_new_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model_dir = _fake_model(tmp_path / "model", b"weights")
    cache = tmp_path / "cache"
    made: list[int] = []

    def export(model: Any, target: Path) -> None:
        made.append(onnx_minilm.EXPORT_FORMAT)
        target.write_bytes(str(onnx_minilm.EXPORT_FORMAT).encode())

    first = ensure_onnx(model_dir, cache, lambda: None, export)
    monkeypatch.setattr(onnx_minilm, "EXPORT_FORMAT", onnx_minilm.EXPORT_FORMAT + 1)
    second = ensure_onnx(model_dir, cache, lambda: None, export)
    assert first != second and len(made) == 2
    assert second.read_bytes() == str(onnx_minilm.EXPORT_FORMAT).encode() != first.read_bytes()


def test_the_fingerprint_is_the_weights_hash_remembered_by_size_and_mtime(tmp_path: Path) -> None:
    import hashlib

    model_dir = _fake_model(tmp_path / "model", b"A" * 4096)
    cache = tmp_path / "cache"
    want = hashlib.sha256()
    for name in ("model.safetensors", "config.json"):
        want.update(name.encode() + b"\0" + (model_dir / name).read_bytes())
    assert weights_fingerprint(model_dir, cache) == want.hexdigest()
    index = json.loads((cache / onnx_minilm.FINGERPRINTS).read_text(encoding="utf-8"))
    assert index[str(model_dir.resolve())]["sha256"] == want.hexdigest()

    # Same size and mtime: the remembered hash (the file is not read again).
    weights = model_dir / "model.safetensors"
    stat = weights.stat()
    weights.write_bytes(b"B" * 4096)
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert weights_fingerprint(model_dir, cache) == want.hexdigest()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    assert weights_fingerprint(model_dir, cache) != want.hexdigest()


@pytest.mark.slow
def test_one_shot_query_and_prompt_import_neither_torch_nor_llama_cpp_nor_chromadb(
    exported: tuple[Path, Any], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    path, _ = exported
    cache = onnx_cache_dir(home)
    cache.mkdir(parents=True)
    shutil.copy(path, onnx_minilm.onnx_file(minilm_path(), cache))  # this process exported it already
    book = tmp_path / "start.txt"  # the sample's first pages: a store is all this needs
    book.write_text((SAMPLE_DIR / "story.txt").read_text(encoding="utf-8")[:8000], encoding="utf-8")
    result = cli(home, "ingest", str(book), "--story", "s", "--llm", "extractive", "--embedder", "minilm")
    assert result.exit_code == 0, result.output
    probe = (
        "import json, runpy, sys\n"
        "sys.argv = ['automuse', *sys.argv[1:]]\n"
        "try:\n"
        "    runpy.run_module('automuse_rag', run_name='__main__')\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "heavy = ('torch', 'sentence_transformers', 'transformers', 'spacy', 'llama_cpp', 'chromadb')\n"
        "print(json.dumps([m for m in heavy if m in sys.modules]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("AUTOMUSE_HOME", None)
    args = ["--home", str(home), "query", "--story", "s", "Who is Arthur Blackwood?", "--json"]
    out = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert json.loads(lines[-1]) == []
    assert json.loads("\n".join(lines[:-1]))["hits"], out.stdout
    assert "note:" not in out.stderr  # the ONNX path ran, no fallback
    # prompt counts tokens in the local model's vocabulary, read by tokenizers (gguf_vocab)
    args = ["--home", str(home), "prompt", "--story", "s", "--at", "0", "--budget", "512", "--json"]
    out = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert json.loads(lines[-1]) == []
    assert json.loads("\n".join(lines[:-1]))["tokens"] <= 512, out.stdout
