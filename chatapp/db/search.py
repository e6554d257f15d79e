"""Full-text search of titles and messages: FTS5 tables kept by triggers on SQLite, GIN on Postgres."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, SQLModel, col

from ..domain import SearchHit
from .schema import ConversationRow, MessageRow

MAX_WORDS = 8
SNIPPET_CHARS = 160

# The searched columns, as (table, column).
MESSAGES = ("message", "content")
TITLES = ("conversation", "title")

# Letters and digits; everything else separates words, as it does for both databases' tokenizers. A query is
# reduced to these words before it reaches SQL, so no character the user types is read as search syntax.
_WORD = re.compile(r"[^\W_]+")


# --- the index ------------------------------------------------------------------------------------


def is_search_index_object(name: str | None) -> bool:
    """A table or index of the search index (FTS5's shadow tables too), which no model declares."""
    return name is not None and any(
        name == f"{table}_fts" or name.startswith(f"{table}_fts_") or name == f"ix_{table}_{column}_fts"
        for table, column in (MESSAGES, TITLES)
    )


def _fts5(table: str, column: str, final_only: bool = False) -> list[str]:
    # External content: the FTS5 table keeps only the index; the text stays in the table's own rows, where
    # FTS5 can read it back, so 'rebuild' fills the index from rows already there (the migration's backfill)
    # and 'integrity-check' can compare the two. A contentless table would be as small but could do neither.
    # Rows are keyed by the table's rowid. VACUUM keeps rowids here, though SQLite allows it to renumber a
    # table without an INTEGER PRIMARY KEY; if that ever happens, a 'rebuild' puts the index right.
    # unicode61 with remove_diacritics 2: case- and accent-insensitive in any script.
    #
    # `final_only`: a row stays out of the index while its status is 'streaming'. An answer is saved every
    # second as it streams, and re-indexing its whole growing text each time was most of a partial save's
    # cost; it is indexed once, when it is final.
    fts = f"{table}_fts"
    was = "old.status <> 'streaming'" if final_only else "1"
    now = "new.status <> 'streaming'" if final_only else "1"
    # FTS5's 'delete' needs the text as it was indexed; the triggers pass the old row's.
    remove = (
        f"INSERT INTO {fts}({fts}, rowid, {column}) SELECT 'delete', old.rowid, old.{column} WHERE {was};"
    )
    add = f"INSERT INTO {fts}(rowid, {column}) SELECT new.rowid, new.{column} WHERE {now};"
    watched, changed = column, f"old.{column} IS NOT new.{column}"
    if final_only:
        watched, changed = f"{column}, status", f"{changed} OR ({was}) IS NOT ({now})"
    statements = [
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {fts} USING fts5("
        f"{column}, content='{table}', tokenize='unicode61 remove_diacritics 2')",
        f"CREATE TRIGGER IF NOT EXISTS {fts}_insert AFTER INSERT ON {table} BEGIN {add} END",
        f"CREATE TRIGGER IF NOT EXISTS {fts}_delete AFTER DELETE ON {table} BEGIN {remove} END",
        f"CREATE TRIGGER IF NOT EXISTS {fts}_update AFTER UPDATE OF {watched} ON {table}"
        f" WHEN {changed} BEGIN {remove} {add} END",
        f"INSERT INTO {fts}({fts}) VALUES ('rebuild')",
    ]
    if final_only:  # 'rebuild' indexes every row; the ones still streaming come out again
        statements.append(
            f"INSERT INTO {fts}({fts}, rowid, {column})"
            f" SELECT 'delete', rowid, {column} FROM {table} WHERE status = 'streaming'"
        )
    return statements


def _gin(table: str, column: str, final_only: bool = False) -> list[str]:
    # 'simple' lowercases and stems nothing: chats are in any language, and one language's stemmer and stop
    # words would garble the others. Postgres keeps an expression index current by itself: no trigger needed,
    # and a partial one leaves streaming answers out until they are final.
    where = " WHERE status <> 'streaming'" if final_only else ""
    return [
        f"CREATE INDEX IF NOT EXISTS ix_{table}_{column}_fts ON {table}"
        f" USING gin (to_tsvector('simple', {column})){where}"
    ]


def _drop_fts5(table: str, column: str) -> list[str]:
    triggers = [f"DROP TRIGGER IF EXISTS {table}_fts_{event}" for event in ("insert", "delete", "update")]
    return [*triggers, f"DROP TABLE IF EXISTS {table}_fts"]


def _drop_gin(table: str, column: str) -> list[str]:
    return [f"DROP INDEX IF EXISTS ix_{table}_{column}_fts"]


# The DDL lives here, next to the queries that depend on it: create_tables runs it, and each migration keeps a
# copy of the statements of its day.
_DDL = {
    ("sqlite", "create"): _fts5,
    ("sqlite", "drop"): _drop_fts5,
    ("postgresql", "create"): _gin,
    ("postgresql", "drop"): _drop_gin,
}


def _run_ddl(connection: sa.Connection, action: str) -> None:
    dialect = connection.dialect.name
    if (dialect, action) not in _DDL:
        raise ValueError(f"Search needs SQLite or PostgreSQL, not {dialect}.")
    for table, column in (MESSAGES, TITLES):
        # Messages are indexed once final; titles as they are.
        options = {"final_only": (table, column) == MESSAGES} if action == "create" else {}
        for statement in _DDL[dialect, action](table, column, **options):
            connection.exec_driver_sql(statement)


def create_search_index(connection: sa.Connection) -> None:
    """Creates the full-text index over titles and messages and fills it from the rows already there."""
    _run_ddl(connection, "create")


def drop_search_index(connection: sa.Connection) -> None:
    _run_ddl(connection, "drop")


# --- the query ------------------------------------------------------------------------------------


def _words(query: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFC", query))[:MAX_WORDS]


def _fts5_query(words: list[str]) -> str:
    # Quoted, a word is only a word: AND, OR, NOT and NEAR lose their meaning; the '*' makes it a prefix.
    return " AND ".join(f'"{word}"*' for word in words)


def _tsvector_holds(searched: tuple[str, str], words: list[str]) -> sa.ColumnElement[bool]:
    table, column = searched
    # The same expression as the index's, with 'simple' written out, or Postgres would not use the index.
    simple: sa.ColumnElement[str] = sa.literal_column("'simple'")
    vector = sa.func.to_tsvector(simple, SQLModel.metadata.tables[table].c[column])
    return vector.op("@@")(sa.func.to_tsquery(simple, " & ".join(f"{word}:*" for word in words)))


def _newest_messages_holding(dialect: str, words: list[str]) -> sa.Select:
    """(conversation id, message id, created_at) of the messages that hold every word, newest first."""
    columns = (col(MessageRow.conversation_id), col(MessageRow.id), col(MessageRow.created_at))
    if dialect != "sqlite":
        # The index's own condition, written out as a literal so the planner can see it applies.
        final = col(MessageRow.status) != sa.literal_column("'streaming'")
        return (
            sa.select(*columns)
            .where(_tsvector_holds(MESSAGES, words), final)
            .order_by(col(MessageRow.created_at).desc(), col(MessageRow.position).desc())
        )
    # Read from the FTS5 table, in its own order (rowid), so a LIMIT stops it early; written as `rowid IN
    # (subquery)` instead, SQLite was seen to probe the subquery's rows once per conversation. Messages are
    # only ever inserted with the current time, so their rowids follow created_at.
    fts = sa.table("message_fts", sa.column("rowid"))
    return (
        sa.select(*columns)
        .select_from(fts)
        .join(MessageRow, sa.literal_column("message.rowid") == fts.c.rowid)
        .where(sa.literal_column(fts.name).op("MATCH")(_fts5_query(words)))
        .order_by(fts.c.rowid.desc())
    )


def _title_holds(dialect: str, words: list[str]) -> sa.ColumnElement[bool]:
    if dialect != "sqlite":
        return _tsvector_holds(TITLES, words)
    # A set to look conversations up in as the owner's are read newest first, until enough are found.
    fts = sa.table("conversation_fts", sa.column("rowid"))
    matching = sa.select(fts.c.rowid).where(sa.literal_column(fts.name).op("MATCH")(_fts5_query(words)))
    return sa.literal_column("conversation.rowid").in_(matching)


def _by_message(
    session: Session, dialect: str, owner: str, words: list[str], limit: int
) -> dict[str, tuple[str, datetime]]:
    """The `limit` conversations whose latest message holding every word is newest, each with that message's
    id and time."""
    statement = (
        _newest_messages_holding(dialect, words)
        .join(ConversationRow, col(ConversationRow.id) == MessageRow.conversation_id)
        .where(col(ConversationRow.owner) == owner)
    )
    # A common word is in most messages: read the newest few, and more only while too few conversations show.
    batch = limit * 8
    while True:
        rows = session.execute(statement.limit(batch)).all()
        found: dict[str, tuple[str, datetime]] = {}
        for conversation_id, message_id, created_at in rows:
            found.setdefault(conversation_id, (message_id, created_at))
            if len(found) == limit:
                return found
        if len(rows) < batch:
            return found
        batch *= 4


def _by_title(
    session: Session, dialect: str, owner: str, words: list[str], limit: int
) -> dict[str, datetime]:
    """The `limit` latest conversations (with messages) whose title holds every word, each with the time of
    its latest message, which is its updated_at."""
    rows = session.execute(
        sa.select(col(ConversationRow.id), col(ConversationRow.updated_at))
        .where(
            col(ConversationRow.owner) == owner,
            _title_holds(dialect, words),
            sa.exists().where(col(MessageRow.conversation_id) == ConversationRow.id),
        )
        .order_by(col(ConversationRow.updated_at).desc())
        .limit(limit)
    ).all()
    return {conversation_id: updated_at for conversation_id, updated_at in rows}


def _latest_messages(session: Session, conversation_ids: list[str]) -> dict[str, str]:
    if not conversation_ids:
        return {}
    last = (
        sa.select(col(MessageRow.conversation_id), sa.func.max(MessageRow.position).label("position"))
        .where(col(MessageRow.conversation_id).in_(conversation_ids))
        .group_by(col(MessageRow.conversation_id))
        .subquery()
    )
    rows = session.execute(
        sa.select(col(MessageRow.conversation_id), col(MessageRow.id)).join(
            last,
            sa.and_(
                col(MessageRow.conversation_id) == last.c.conversation_id,
                col(MessageRow.position) == last.c.position,
            ),
        )
    ).all()
    return {conversation_id: message_id for conversation_id, message_id in rows}


def search_messages(session: Session, *, owner: str, query: str, limit: int = 5) -> list[SearchHit]:
    """Conversations of this owner where a message holds every word, or the title does, most recent first.
    Each comes with the message to open: its latest that holds every word, else (a match by title alone) its
    latest message."""
    words = _words(query)
    if not words:
        return []
    dialect = session.get_bind().dialect.name
    by_message = _by_message(session, dialect, owner, words, limit)
    latest = _by_title(session, dialect, owner, words, limit)
    for conversation_id, (_, at) in by_message.items():
        latest[conversation_id] = max(at, latest.get(conversation_id, at))
    chosen = sorted(latest, key=lambda c: (latest[c], c), reverse=True)[:limit]
    opened = {c: by_message[c][0] for c in chosen if c in by_message}
    opened |= _latest_messages(session, [c for c in chosen if c not in opened])
    rows = session.execute(
        sa.select(col(MessageRow.id), col(ConversationRow.title), col(MessageRow.content))
        .join(ConversationRow, col(ConversationRow.id) == MessageRow.conversation_id)
        .where(col(MessageRow.id).in_(opened.values()))
    ).all()
    shown = {message_id: (title, content) for message_id, title, content in rows}
    return [
        SearchHit(c, shown[opened[c]][0], snippet(shown[opened[c]][1], words), opened[c])
        for c in chosen
        if opened.get(c) in shown  # unless deleted in the meantime
    ]


# --- the snippet ----------------------------------------------------------------------------------


def _folded(text: str) -> str:
    """Lower case without accents, to find the words in the text the way the index found them."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).casefold()


def snippet(text: str, words: list[str]) -> str:
    """About SNIPPET_CHARS of the text on one line, from a little before the first word that starts with a
    searched one, cut between words. Plain text with no match markers: the UI shows it as it is."""
    wanted = tuple(_folded(word) for word in words)
    at = next((m.start() for m in _WORD.finditer(text) if _folded(m.group()).startswith(wanted)), 0)
    start = max(at - SNIPPET_CHARS // 3, 0)
    end = start + SNIPPET_CHARS
    pieces = text[start:end].split()
    if _splits_a_word(text, start) and len(pieces) > 1:
        pieces = pieces[1:]
    if _splits_a_word(text, end) and len(pieces) > 1:
        pieces = pieces[:-1]
    return ("…" if start else "") + " ".join(pieces) + ("…" if text[end:].strip() else "")


def _splits_a_word(text: str, at: int) -> bool:
    return 0 < at < len(text) and not text[at - 1].isspace() and not text[at].isspace()
