"""answers indexed for search once final

Revision ID: f2c4e6a8b0d1
Revises: d1f3a5c7e9b2
Create Date: 2026-12-02 03:40:00

An answer is saved every second while it streams. The search index re-indexed its whole growing text at each
save; now a message enters the index when its status stops being 'streaming'. On SQLite the message triggers
are replaced and the rows still streaming leave the index (the old triggers had indexed them with their
current text, which is what FTS5's 'delete' needs). On Postgres the GIN index becomes a partial one.
"""

from typing import Sequence, Union

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "f2c4e6a8b0d1"
down_revision: Union[str, Sequence[str], None] = "d1f3a5c7e9b2"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_DROP_TRIGGERS = [f"DROP TRIGGER IF EXISTS message_fts_{event}" for event in ("insert", "delete", "update")]

UPGRADE = {
    "sqlite": [
        *_DROP_TRIGGERS,
        *[
            "CREATE TRIGGER IF NOT EXISTS message_fts_insert AFTER INSERT ON message BEGIN INSERT INTO message_fts(rowid, content) SELECT new.rowid, new.content WHERE new.status <> 'streaming'; END",
            "CREATE TRIGGER IF NOT EXISTS message_fts_delete AFTER DELETE ON message BEGIN INSERT INTO message_fts(message_fts, rowid, content) SELECT 'delete', old.rowid, old.content WHERE old.status <> 'streaming'; END",
            "CREATE TRIGGER IF NOT EXISTS message_fts_update AFTER UPDATE OF content, status ON message WHEN old.content IS NOT new.content OR (old.status <> 'streaming') IS NOT (new.status <> 'streaming') BEGIN INSERT INTO message_fts(message_fts, rowid, content) SELECT 'delete', old.rowid, old.content WHERE old.status <> 'streaming'; INSERT INTO message_fts(rowid, content) SELECT new.rowid, new.content WHERE new.status <> 'streaming'; END",
        ],
        *[
            "INSERT INTO message_fts(message_fts, rowid, content) SELECT 'delete', rowid, content FROM message WHERE status = 'streaming'",
        ],
    ],
    "postgresql": [
        "DROP INDEX IF EXISTS ix_message_content_fts",
        *[
            "CREATE INDEX IF NOT EXISTS ix_message_content_fts ON message USING gin (to_tsvector('simple', content)) WHERE status <> 'streaming'",
        ],
    ],
}
DOWNGRADE = {
    "sqlite": [
        *_DROP_TRIGGERS,
        "CREATE TRIGGER IF NOT EXISTS message_fts_insert AFTER INSERT ON message BEGIN INSERT INTO message_fts(rowid, content) VALUES (new.rowid, new.content); END",
        "CREATE TRIGGER IF NOT EXISTS message_fts_delete AFTER DELETE ON message BEGIN INSERT INTO message_fts(message_fts, rowid, content) VALUES ('delete', old.rowid, old.content); END",
        "CREATE TRIGGER IF NOT EXISTS message_fts_update AFTER UPDATE OF content ON message WHEN old.content IS NOT new.content BEGIN INSERT INTO message_fts(message_fts, rowid, content) VALUES ('delete', old.rowid, old.content); INSERT INTO message_fts(rowid, content) VALUES (new.rowid, new.content); END",
        "INSERT INTO message_fts(message_fts) VALUES ('rebuild')",
    ],
    "postgresql": [
        "DROP INDEX IF EXISTS ix_message_content_fts",
        "CREATE INDEX IF NOT EXISTS ix_message_content_fts ON message USING gin (to_tsvector('simple', content))",
    ],
}


def _run(statements: dict[str, list[str]]) -> None:
    connection = op.get_bind()
    for statement in statements[connection.dialect.name]:
        connection.exec_driver_sql(statement)


def upgrade() -> None:
    _run(UPGRADE)


def downgrade() -> None:
    _run(DOWNGRADE)
