"""How long or how many of each thing the app takes: one place, read by the rows, the schemas and the code.

A limit is where it is checked as the user sees it (the text boxes stop there too), where a row's column is
sized, and where an import or a REST body is refused. Keeping them here keeps those three in step.
"""

from __future__ import annotations

# A conversation's title and a category's name, wherever they are written from.
MAX_TITLE_CHARS = 200
MAX_CATEGORY_CHARS = 60
# A title made from the user's first message, before (or instead of) the model's suggestion: one line that
# fits the sidebar.
FIRST_LINE_TITLE_CHARS = 60
# A title that names a conversation (the model's suggestion, or one made from the user's words): a few words.
LABEL_TITLE_CHARS = 60
LABEL_TITLE_WORDS = 8
# A model's name, as a conversation's settings and the rows keep it.
MAX_MODEL_CHARS = 200
# A provider's name ("openai", "local", "mock"), an MCP server's name, a status event's kind.
MAX_NAME_CHARS = 32
# A tokenizer encoding's label, and an owner id (a SHA-256 in hex).
MAX_LABEL_CHARS = 64
# A tool call's id and name as a model server sends them: anything, so they are cut to their columns.
MAX_TOOL_NAME_CHARS = 128
# The longest answer kept (about 100,000 tokens, the most an answer may ask for), and the longest tool
# arguments or result: a model server that never stops can't fill the memory or the database.
MAX_ANSWER_CHARS = 400_000
MAX_TOOL_TEXT_CHARS = 100_000
MAX_ERROR_CHARS = 2_000
# How many MCP servers a conversation may switch off, and tools it may run without asking.
MAX_SERVERS_OFF = 64
MAX_TOOLS_ALLOWED = 256
# How many tool calls one answer may hold in an import.
MAX_TOOL_CALLS = 64
# A conversation's settings.
MAX_TEMPERATURE = 2.0
MAX_ANSWER_TOKENS = 100_000
# A search query, in the sidebar, REST and the search tool alike.
MAX_QUERY_CHARS = 200
