"""What the app accepts from a person: a message, a conversation's settings, and the title made from them."""

from __future__ import annotations

import re

from .errors import InputError
from .limits import (
    FIRST_LINE_TITLE_CHARS,
    LABEL_TITLE_CHARS,
    LABEL_TITLE_WORDS,
    MAX_ANSWER_TOKENS,
    MAX_MODEL_CHARS,
    MAX_TEMPERATURE,
)
from .text import plain_text, shorten
from .values import ChatOptions

_FILLER = re.compile(
    # A greeting only with its comma: "Hello, can you..." but not "Hello world".
    r"^(?:please\s+|(?:hey|hi|hello|ok|okay|so)[,!]\s+"
    r"|(?:can|could|would|will) you (?:please )?"
    r"|how (?:do|can|should|would) (?:i|we|you) "
    r"|(?:i want to|i'd like to|i need to|help me) )+",
    re.IGNORECASE,
)
_LOOSE_ENDS = {"a", "an", "and", "the", "of", "in", "on", "to", "for", "with", "my", "your", "or", "at"}


def validate_message(text: object, max_chars: int) -> str:
    cleaned = plain_text(text).strip()
    if not cleaned:
        raise InputError("Type a message first.")
    if len(cleaned) > max_chars:
        raise InputError(f"That message is {len(cleaned):,} characters; the limit is {max_chars:,}.")
    return cleaned


def options_from(form: dict[str, object], max_prompt_chars: int) -> ChatOptions:
    """A conversation's settings as the user typed them; an empty field keeps the default."""

    def field(name: str) -> str:
        value = form.get(name)
        return plain_text(value if isinstance(value, str) else str(value or "")).strip()

    model, system_prompt = field("model"), field("system_prompt")
    if len(model) > MAX_MODEL_CHARS:
        raise InputError(f"A model name has at most {MAX_MODEL_CHARS} characters.")
    if len(system_prompt) > max_prompt_chars:
        raise InputError(
            f"The system prompt is {len(system_prompt):,} characters; the limit is {max_prompt_chars:,}."
        )
    temperature = max_tokens = None
    if field("temperature"):
        try:
            temperature = float(field("temperature"))
        except ValueError:
            temperature = -1.0
        if not 0 <= temperature <= MAX_TEMPERATURE:
            raise InputError(f"Temperature is a number from 0 to {MAX_TEMPERATURE:g}.")
    if field("max_tokens"):
        max_tokens = int(field("max_tokens")) if field("max_tokens").isdigit() else 0
        if not 1 <= max_tokens <= MAX_ANSWER_TOKENS:
            raise InputError(f"Max tokens is a whole number from 1 to {MAX_ANSWER_TOKENS:,}.")
    return ChatOptions(model, system_prompt, temperature, max_tokens)


def without_command(text: str) -> str:
    # A leading command line (such as the mock provider's `/mock tokens=20`) says how, not what.
    lines = text.strip().split("\n")
    return "\n".join(lines[1:]) if len(lines) > 1 and lines[0].startswith("/") else text


def title_from(text: str) -> str:
    """A new conversation's first title: its first message on one line, cut to fit the sidebar."""
    return shorten(without_command(text), FIRST_LINE_TITLE_CHARS, flatten=True)


def title_from_message(text: str) -> str:
    """A short title from the user's own words: the first line, without greetings and 'can you', up to eight
    words, never ending on 'with' or 'the'."""
    line = next((line for line in without_command(text).split("\n") if line.strip()), "")
    line = _FILLER.sub("", " ".join(line.split())).strip(" ?!.:;,")
    words = line.split()[:LABEL_TITLE_WORDS]
    while len(words) > 1 and words[-1].lower().strip(",;:") in _LOOSE_ENDS:
        words.pop()
    title = " ".join(words).strip(" ,;:")[:LABEL_TITLE_CHARS]
    return title[:1].upper() + title[1:] if title else "New conversation"
