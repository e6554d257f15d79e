"""full-text search

Revision ID: d1f3a5c7e9b2
Revises: e7a2c9d4b6f1
Create Date: 2026-11-26 01:21:49.000000

The search index over titles and messages: on SQLite, FTS5 tables kept current by triggers and filled from
the rows already there; on Postgres, GIN indexes over to_tsvector('simple', ...). The statements are those
chatapp.db.search made on this day, copied here when it changed (revision f2c4e6a8b0d1): a migration keeps
doing what it did.

No model declares these objects; chatapp/db/autogenerate.py keeps `reflex db makemigrations` (and Reflex's
start-up check) from offering to drop them.
"""

from typing import Sequence, Union

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "d1f3a5c7e9b2"
down_revision: Union[str, Sequence[str], None] = "e7a2c9d4b6f1"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


CREATE = {
    "sqlite": [
        "CREATE VIRTUAL TABLE IF NOT EXISTS message_fts USING fts5(content, content='message', tokenize='unicode61 remove_diacritics 2')",
        "CREATE TRIGGER IF NOT EXISTS message_fts_insert AFTER INSERT ON message BEGIN INSERT INTO message_fts(rowid, content) VALUES (new.rowid, new.content); END",
        "CREATE TRIGGER IF NOT EXISTS message_fts_delete AFTER DELETE ON message BEGIN INSERT INTO message_fts(message_fts, rowid, content) VALUES ('delete', old.rowid, old.content); END",
        "CREATE TRIGGER IF NOT EXISTS message_fts_update AFTER UPDATE OF content ON message WHEN old.content IS NOT new.content BEGIN INSERT INTO message_fts(message_fts, rowid, content) VALUES ('delete', old.rowid, old.content); INSERT INTO message_fts(rowid, content) VALUES (new.rowid, new.content); END",
        "INSERT INTO message_fts(message_fts) VALUES ('rebuild')",
        "CREATE VIRTUAL TABLE IF NOT EXISTS conversation_fts USING fts5(title, content='conversation', tokenize='unicode61 remove_diacritics 2')",
        "CREATE TRIGGER IF NOT EXISTS conversation_fts_insert AFTER INSERT ON conversation BEGIN INSERT INTO conversation_fts(rowid, title) VALUES (new.rowid, new.title); END",
        "CREATE TRIGGER IF NOT EXISTS conversation_fts_delete AFTER DELETE ON conversation BEGIN INSERT INTO conversation_fts(conversation_fts, rowid, title) VALUES ('delete', old.rowid, old.title); END",
        "CREATE TRIGGER IF NOT EXISTS conversation_fts_update AFTER UPDATE OF title ON conversation WHEN old.title IS NOT new.title BEGIN INSERT INTO conversation_fts(conversation_fts, rowid, title) VALUES ('delete', old.rowid, old.title); INSERT INTO conversation_fts(rowid, title) VALUES (new.rowid, new.title); END",
        "INSERT INTO conversation_fts(conversation_fts) VALUES ('rebuild')",
    ],
    "postgresql": [
        "CREATE INDEX IF NOT EXISTS ix_message_content_fts ON message USING gin (to_tsvector('simple', content))",
        "CREATE INDEX IF NOT EXISTS ix_conversation_title_fts ON conversation USING gin (to_tsvector('simple', title))",
    ],
}
DROP = {
    "sqlite": [
        *(
            f"DROP TRIGGER IF EXISTS {table}_fts_{event}"
            for table in ("message", "conversation")
            for event in ("insert", "delete", "update")
        ),
        "DROP TABLE IF EXISTS message_fts",
        "DROP TABLE IF EXISTS conversation_fts",
    ],
    "postgresql": [
        "DROP INDEX IF EXISTS ix_message_content_fts",
        "DROP INDEX IF EXISTS ix_conversation_title_fts",
    ],
}


def _run(statements: dict[str, list[str]]) -> None:
    connection = op.get_bind()
    if connection.dialect.name not in statements:
        raise ValueError(f"Search needs SQLite or PostgreSQL, not {connection.dialect.name}.")
    for statement in statements[connection.dialect.name]:
        connection.exec_driver_sql(statement)


def upgrade() -> None:
    """Upgrade schema."""
    _run(CREATE)


def downgrade() -> None:
    """Downgrade schema."""
    _run(DROP)
