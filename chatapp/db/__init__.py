"""Storage: sqlmodel tables and the only code that touches a database session.

Design: a conversation and each of its messages are rows (never a JSON blob), so a message can be saved
again and again while it streams, and scripts can read history through REST. Every function takes the
session from its caller and returns plain domain values, so nothing outside this package sees sqlmodel.
Times are UTC. Ids are random UUIDs; `owner` is the owner id of the browser (a hash of the random key
it keeps in its local storage, chatapp.accounts.owners), and every query is scoped by it.
"""

from . import autogenerate as _autogenerate  # noqa: F401  (registers itself with Alembic)
from .conversations import (
    allow_tool,
    apply_label,
    create_conversation,
    delete_category,
    delete_conversation,
    file_conversation,
    find_category,
    get_conversation,
    import_conversation,
    list_categories,
    rename_category,
    rename_conversation,
    set_options,
    set_pinned,
)
from .engine import create_tables, engine, run, session_for
from .listing import decode_cursor, list_conversations
from .messages import (
    add_message,
    add_tool_step,
    finish_tool_step,
    get_message,
    list_events,
    list_message_page,
    list_messages,
    mark_unfinished_as_interrupted,
    open_conversation,
    rewind_to,
    save_answer,
    save_partial_answers,
    start_tool_step,
)
from .schema import CategoryRow, ConversationRow, EventRow, MessageRow, ToolCallRow, is_id, new_id, utcnow
from .search import create_search_index, drop_search_index, search_messages
from .turns import AnswerBegun, NothingToAnswer, begin_answer
from .write_behind import WriteBehind, write_behind

__all__ = [
    "AnswerBegun",
    "NothingToAnswer",
    "begin_answer",
    "allow_tool",
    "apply_label",
    "CategoryRow",
    "delete_category",
    "file_conversation",
    "find_category",
    "list_categories",
    "rename_category",
    "ConversationRow",
    "EventRow",
    "MessageRow",
    "ToolCallRow",
    "add_message",
    "add_tool_step",
    "create_conversation",
    "create_search_index",
    "create_tables",
    "decode_cursor",
    "delete_conversation",
    "drop_search_index",
    "engine",
    "finish_tool_step",
    "get_conversation",
    "get_message",
    "import_conversation",
    "is_id",
    "list_conversations",
    "list_events",
    "list_message_page",
    "list_messages",
    "mark_unfinished_as_interrupted",
    "new_id",
    "rename_conversation",
    "rewind_to",
    "run",
    "save_answer",
    "open_conversation",
    "save_partial_answers",
    "WriteBehind",
    "write_behind",
    "search_messages",
    "session_for",
    "set_options",
    "set_pinned",
    "start_tool_step",
    "utcnow",
]
