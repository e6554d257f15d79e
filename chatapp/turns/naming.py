"""A new conversation's title and category, suggested by the model from its first exchange.

The request is few-shot and asks for two short lines, which even the bundled 135M-parameter model follows
most of the time. Its reply is still only a suggestion: a title that is too long, reads like an answer, or
shares no word with the exchange is set aside for one made from the user's own message, and a category
counts only when it is one of those offered.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass

from .. import db
from ..domain import (
    ChatOptions,
    Conversation,
    ConversationLabelled,
    Message,
    PromptMessage,
    ProviderError,
    title_from_message,
    without_command,
)
from ..domain.limits import LABEL_TITLE_CHARS, LABEL_TITLE_WORDS
from .context import TurnContext

# Offered beside the user's own categories, so a first conversation can be filed too.
DEFAULT_CATEGORIES = ("Coding", "Writing", "Science", "Travel", "Food", "Health", "Work", "Personal")
NO_CATEGORY = "Other"
MAX_OFFERED = 16
EXCERPT_CHARS = 600
# Naming a conversation must never hold it up for long: past this, the title stays the first message's.
LABEL_TIMEOUT_S = 20.0
LABEL_MAX_TOKENS = 24

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


def read(reply: str, question: str, answer: str, categories: Sequence[str]) -> Label:
    """The model's reply as a label, falling back to a title made from the question."""
    title = _clean_title(_field(reply, "title") or reply.strip().split("\n")[0])
    by_model = _usable(title, question + " " + answer)
    if not by_model:
        title = title_from_message(question)
    chosen = (_field(reply, "category") or "").split(",")[0].strip(" .*\"'").lower()
    category = next((c for c in categories if c.lower() == chosen and c != NO_CATEGORY), None)
    return Label(title, category, by_model)


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
    if not 1 <= len(words) <= LABEL_TITLE_WORDS or len(title) > LABEL_TITLE_CHARS:
        return False
    if not any(ch.isalpha() for ch in title):
        return False
    # Grounded: some word of the title (or its stem) occurs in the exchange; an invented title shares none.
    seen = {w[:5] for w in re.findall(r"\w+", exchange.lower())}
    words = re.findall(r"\w+", title.lower())
    telling = [w for w in words if len(w) >= 3] or words  # "Hi" has only short words to go by
    return any(w[:5] in seen for w in telling)


async def name_conversation(
    context: TurnContext, conversation: Conversation, question: Message, answer: Message
) -> None:
    """Names a new conversation after its first exchange: the model suggests a title and a category, and
    each is applied unless the user has chosen one meanwhile."""
    categories = await context.db(db.list_categories, owner=context.owner)
    offered = offered_categories([c.name for c in categories])
    options = ChatOptions(model=context.model, temperature=0.0, max_tokens=LABEL_MAX_TOKENS)
    try:
        reply = await asyncio.wait_for(
            context.provider.complete(request(question.content, offered), options), LABEL_TIMEOUT_S
        )
    except (ProviderError, TimeoutError):
        reply = ""  # the title made from the question will do
    label = read(reply, question.content, answer.content, offered)
    labelled = await context.db(
        db.apply_label,
        owner=context.owner,
        conversation_id=conversation.id,
        title_before=conversation.title,
        title=label.title,
        category=label.category,
    )
    if labelled is None:
        return
    renamed, category = labelled
    context.emit(ConversationLabelled(renamed, category))
    source = "suggested by the model" if label.by_model else "made from your message"
    context.status("labelled", answer, f"“{renamed.title}” {source}" + (f" · {category}" if category else ""))
