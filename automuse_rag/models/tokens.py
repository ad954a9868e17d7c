"""Token counting for models whose tokenizer is not in-process.

The local model counts with its own (llama.cpp) tokenizer. OpenAI models count with
tiktoken when the model's encoding can be loaded; tiktoken downloads its BPE file on
first use, so loading is time-boxed (no hang when offline) and remembered per
process. Otherwise :func:`estimate_tokens` gives a conservative estimate that never
undercounts (see its docstring).
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable
from typing import Any

TIKTOKEN_LOAD_TIMEOUT = 5.0  # seconds; tiktoken may try to download its BPE file

# Letter runs, single digits, whitespace runs, any other single character.
_PIECE = re.compile(r"[^\W\d_]+|\d|\s+|.", re.UNICODE | re.DOTALL)

_encodings: dict[str, Any] = {}
_lock = threading.Lock()


def estimate_tokens(text: str) -> int:
    """A token count that never undercounts a sub-word (BPE / SentencePiece) tokenizer.

    Counted per piece of the text:

    * a run of letters of length ``L``: ``ceil(L / 2)`` tokens. Sub-word vocabularies of
      32k+ entries hold the common letter pairs, so a word never splits into more
      pieces than half its letters; a single letter counts one.
    * every digit: one token (SmolLM2 / Llama tokenizers split numbers into digits);
    * every other non-space character: its UTF-8 byte count (byte-fallback
      tokenizers spend up to one token per byte on rare symbols);
    * whitespace: a single space is free when a word follows (tokenizers merge it
      into the word), otherwise one token; a longer run or one holding a newline
      counts one token per character.

    On English prose this is about 1.5-2x the real count: wasteful, but a prompt
    budgeted with it always fits. ``tests/test_models_tokens.py`` checks it against
    the local model's tokenizer on the shared Gutenberg books.
    """
    total = 0
    pieces = _PIECE.findall(text)
    for i, piece in enumerate(pieces):
        first = piece[0]
        if first.isspace():
            if piece == " ":
                nxt = pieces[i + 1] if i + 1 < len(pieces) else ""
                total += 0 if (nxt and nxt[0].isalpha()) else 1
            else:
                total += len(piece)
        elif first.isalpha():
            total += math.ceil(len(piece) / 2)
        elif first.isdigit():
            total += 1
        else:
            total += len(piece.encode("utf-8"))
    return total


def _load_with_timeout(loader: Callable[[], Any], timeout: float) -> Any | None:
    """Run ``loader`` in a daemon thread; None if it fails or takes too long."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = loader()
        except Exception:  # noqa: BLE001 - any failure means "use the estimate"
            box["value"] = None

    thread = threading.Thread(target=run, daemon=True, name="tiktoken-load")
    thread.start()
    thread.join(timeout)
    return box.get("value")


def tiktoken_encoding(model: str, timeout: float = TIKTOKEN_LOAD_TIMEOUT) -> Any | None:
    """tiktoken's encoding for an OpenAI ``model``, or None when tiktoken does not know
    the model (e.g. a vLLM/Ollama model name) or cannot load the encoding in time."""
    try:
        import tiktoken
    except ImportError:
        return None
    try:
        encoding_name = tiktoken.encoding_name_for_model(model)
    except KeyError:
        return None
    with _lock:
        if encoding_name not in _encodings:
            _encodings[encoding_name] = _load_with_timeout(lambda: tiktoken.get_encoding(encoding_name), timeout)
        return _encodings[encoding_name]


class OpenAITokenCounter:
    """Counts tokens for an OpenAI model: tiktoken if available, else the estimate."""

    def __init__(self, model: str, timeout: float = TIKTOKEN_LOAD_TIMEOUT) -> None:
        self.model = model
        self._timeout = timeout
        self._encoding: Any | None = None
        self._resolved = False

    @property
    def method(self) -> str:
        """``tiktoken:ENCODING`` or ``estimate``."""
        enc = self._get()
        return f"tiktoken:{enc.name}" if enc is not None else "estimate"

    def _get(self) -> Any | None:
        if not self._resolved:
            self._encoding = tiktoken_encoding(self.model, self._timeout)
            self._resolved = True
        return self._encoding

    def count(self, text: str) -> int:
        enc = self._get()
        if enc is None:
            return estimate_tokens(text)
        return len(enc.encode(text, disallowed_special=()))
