"""A new conversation's title and category, suggested by the model from its first exchange.

The request is few-shot and asks for two short lines, which even the bundled 135M-parameter model follows
most of the time. Its reply is still only a suggestion: a title that is too long, reads like an answer, or
shares no word with the exchange is set aside for one made from the user's own message, and a category
counts only when it is one of those offered.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .domain import PromptMessage

# Offered beside the user's own categories, so a first conversation can be filed too.
DEFAULT_CATEGORIES = ("Coding", "Writing", "Science", "Travel", "Food", "Health", "Work", "Personal")
NO_CATEGORY = "Other"
MAX_OFFERED = 16
MAX_TITLE_WORDS = 8
MAX_TITLE_CHARS = 60
EXCERPT_CHARS = 600

INSTRUCTIONS = (
    "You label conversations. Reply with two lines: a short title of two to six words, and one category "
    "from the list. Never answer the message itself."
)
# (message, title, category): the last example teaches the way out, so a doubtful guess says "Other".
_EXAMPLES = (
    ("How can I sort a dictionary by value in Python?", "Sorting a dictionary by value", "Coding"),
    ("What are good hikes near Denver for beginners?", "Beginner hikes near Denver", "Travel"),
    ("Why is the sky blue?", "Why the sky is blue", "Science"),
    ("Good morning!", "Morning greeting", NO_CATEGORY),
)
_FILLER = re.compile(
    # A greeting only with its comma: "Hello, can you..." but not "Hello world".
    r"^(?:please\s+|(?:hey|hi|hello|ok|okay|so)[,!]\s+"
    r"|(?:can|could|would|will) you (?:please )?"
    r"|how (?:do|can|should|would) (?:i|we|you) "
    r"|(?:i want to|i'd like to|i need to|help me) )+",
    re.IGNORECASE,
)
_LOOSE_ENDS = {"a", "an", "and", "the", "of", "in", "on", "to", "for", "with", "my", "your", "or", "at"}


@dataclass(frozen=True)
class Label:
    title: str
    category: str | None  # None: leave the conversation where it is
    by_model: bool  # False: the model's title was unusable, this one comes from the user's message


def offered_categories(existing: Sequence[str]) -> list[str]:
    names = list(existing)
    known = {name.lower() for name in names}
    names += [name for name in DEFAULT_CATEGORIES if name.lower() not in known]
    return names[:MAX_OFFERED] + [NO_CATEGORY]


def request(question: str, categories: Sequence[str]) -> list[PromptMessage]:
    """The prompt: instructions, the worked examples as earlier turns, then this conversation's question."""
    listed = ", ".join(categories)
    prompt = [PromptMessage("system", INSTRUCTIONS)]
    for message, title, category in _EXAMPLES:
        prompt += [
            PromptMessage("user", f"Message: {message}\nCategories: {listed}"),
            PromptMessage("assistant", f"Title: {title}\nCategory: {category}"),
        ]
    prompt.append(
        PromptMessage("user", f"Message: {without_command(question)[:EXCERPT_CHARS]}\nCategories: {listed}")
    )
    return prompt


def is_label_request(messages: Sequence[PromptMessage]) -> bool:
    return bool(messages) and messages[0].role == "system" and messages[0].content == INSTRUCTIONS


def scripted_reply(messages: Sequence[PromptMessage]) -> str:
    """What the mock provider answers to a label request: a title made from the message, and the first offered
    category the message names (else none), so a demo or a test can steer it by what it writes."""
    last = messages[-1].content
    message, _, listed = last.rpartition("\nCategories: ")
    message = message.removeprefix("Message: ")
    words = {w.lower() for w in re.findall(r"\w+", message)}
    category = next((c for c in listed.split(", ") if c.lower() in words), NO_CATEGORY)
    return f"Title: {title_from_message(message)}\nCategory: {category}"


def read(reply: str, question: str, answer: str, categories: Sequence[str]) -> Label:
    """The model's reply as a label, falling back to a title made from the question."""
    title = _clean_title(_field(reply, "title") or reply.strip().split("\n")[0])
    by_model = _usable(title, question + " " + answer)
    if not by_model:
        title = title_from_message(question)
    chosen = (_field(reply, "category") or "").split(",")[0].strip(" .*\"'").lower()
    category = next((c for c in categories if c.lower() == chosen and c != NO_CATEGORY), None)
    return Label(title, category, by_model)


def title_from_message(text: str) -> str:
    """A short title from the user's own words: the first line, without greetings and 'can you', up to eight
    words, never ending on 'with' or 'the'."""
    line = next((line for line in without_command(text).split("\n") if line.strip()), "")
    line = _FILLER.sub("", " ".join(line.split())).strip(" ?!.:;,")
    words = line.split()[:MAX_TITLE_WORDS]
    while len(words) > 1 and words[-1].lower().strip(",;:") in _LOOSE_ENDS:
        words.pop()
    title = " ".join(words).strip(" ,;:")[:MAX_TITLE_CHARS]
    return title[:1].upper() + title[1:] if title else "New conversation"


def without_command(text: str) -> str:
    # A leading command line (such as the mock provider's `/mock tokens=20`) says how, not what.
    lines = text.strip().split("\n")
    return "\n".join(lines[1:]) if len(lines) > 1 and lines[0].startswith("/") else text


def _field(reply: str, name: str) -> str | None:
    found = re.search(rf"^\W*{name}\W*:\s*(.+)$", reply, re.IGNORECASE | re.MULTILINE)
    return found.group(1).strip() if found else None


def _clean_title(raw: str) -> str:
    title = " ".join(raw.replace("*", "").replace("#", "").split()).strip(" \"'`“”.!?")
    head, colon, _ = title.partition(": ")
    # "Quantum entanglement: the ultimate science fiction" -> the part before a colon is the title.
    return head if colon and len(head.split()) >= 2 else title


def _usable(title: str, exchange: str) -> bool:
    words = title.split()
    if not 1 <= len(words) <= MAX_TITLE_WORDS or len(title) > MAX_TITLE_CHARS:
        return False
    if not any(ch.isalpha() for ch in title):
        return False
    # Grounded: some word of the title (or its stem) occurs in the exchange; an invented title shares none.
    seen = {w[:5] for w in re.findall(r"\w+", exchange.lower())}
    words = re.findall(r"\w+", title.lower())
    telling = [w for w in words if len(w) >= 3] or words  # "Hi" has only short words to go by
    return any(w[:5] in seen for w in telling)
