"""deleting a conversation deletes its rows through the database: ON DELETE CASCADE (SET NULL for a category)

Revision ID: a7c9e1b3d5f7
Revises: c8e1a3f5b7d9
Create Date: 2026-12-08 00:10:00

A conversation's messages and events, and a message's tool calls, go with it by the foreign keys' own
ON DELETE CASCADE; a deleted category leaves its conversations without one (SET NULL). Before, the app deleted
each kind of child row by hand. PostgreSQL alters the constraints in place. SQLite can't alter a constraint:
each table is copied into a new one (Alembic's batch mode), which drops its triggers and gives its rows new
rowids, so the search index's triggers are made again and the index is rebuilt from the rows, as revision
f2c4e6a8b0d1 left them (answers still streaming are not indexed).
"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "a7c9e1b3d5f7"
down_revision: str | Sequence[str] | None = "c8e1a3f5b7d9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column, referred table, what a delete of the referred row does, the constraint's name or None for
# one the first migrations left unnamed)
KEYS = [
    ("message", "conversation_id", "conversation", "CASCADE", None),
    ("event", "conversation_id", "conversation", "CASCADE", None),
    ("tool_call", "message_id", "message", "CASCADE", None),
    ("conversation", "category_id", "category", "SET NULL", "fk_conversation_category"),
]

# The search index's triggers and its rebuild, as revisions d1f3a5c7e9b2 and f2c4e6a8b0d1 made them.
SQLITE_SEARCH = [
    *(f"DROP TRIGGER IF EXISTS {t}_fts_{e}" for t in ("message", "conversation") for e in ("insert", "delete", "update")),
    "CREATE TRIGGER IF NOT EXISTS message_fts_insert AFTER INSERT ON message BEGIN INSERT INTO message_fts(rowid, content) SELECT new.rowid, new.content WHERE new.status <> 'streaming'; END",
    "CREATE TRIGGER IF NOT EXISTS message_fts_delete AFTER DELETE ON message BEGIN INSERT INTO message_fts(message_fts, rowid, content) SELECT 'delete', old.rowid, old.content WHERE old.status <> 'streaming'; END",
    "CREATE TRIGGER IF NOT EXISTS message_fts_update AFTER UPDATE OF content, status ON message WHEN old.content IS NOT new.content OR (old.status <> 'streaming') IS NOT (new.status <> 'streaming') BEGIN INSERT INTO message_fts(message_fts, rowid, content) SELECT 'delete', old.rowid, old.content WHERE old.status <> 'streaming'; INSERT INTO message_fts(rowid, content) SELECT new.rowid, new.content WHERE new.status <> 'streaming'; END",
    "INSERT INTO message_fts(message_fts) VALUES ('rebuild')",
    "INSERT INTO message_fts(message_fts, rowid, content) SELECT 'delete', rowid, content FROM message WHERE status = 'streaming'",
    "CREATE TRIGGER IF NOT EXISTS conversation_fts_insert AFTER INSERT ON conversation BEGIN INSERT INTO conversation_fts(rowid, title) VALUES (new.rowid, new.title); END",
    "CREATE TRIGGER IF NOT EXISTS conversation_fts_delete AFTER DELETE ON conversation BEGIN INSERT INTO conversation_fts(conversation_fts, rowid, title) VALUES ('delete', old.rowid, old.title); END",
    "CREATE TRIGGER IF NOT EXISTS conversation_fts_update AFTER UPDATE OF title ON conversation WHEN old.title IS NOT new.title BEGIN INSERT INTO conversation_fts(conversation_fts, rowid, title) VALUES ('delete', old.rowid, old.title); INSERT INTO conversation_fts(rowid, title) VALUES (new.rowid, new.title); END",
    "INSERT INTO conversation_fts(conversation_fts) VALUES ('rebuild')",
]


def _set_deletes(cascade: bool) -> None:
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        for table, column, referred, action, named in KEYS:
            name = named or f"{table}_{column}_fkey"  # PostgreSQL's own name for an unnamed one
            on_delete = f" ON DELETE {action}" if cascade else ""
            connection.exec_driver_sql(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name}")
            connection.exec_driver_sql(
                f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({column}) REFERENCES {referred} (id)"
                + on_delete
            )
        return
    # SQLite: the constraints have no names; the naming convention gives them one to be dropped by.
    convention = {"fk": "fk_%(table_name)s_%(column_0_name)s"}
    for table, column, referred, action, named in KEYS:
        name = named or f"fk_{table}_{column}"
        with op.batch_alter_table(table, recreate="always", naming_convention=convention) as batch_op:
            batch_op.drop_constraint(name, type_="foreignkey")
            batch_op.create_foreign_key(name, referred, [column], ["id"], ondelete=action if cascade else None)
    for statement in SQLITE_SEARCH:
        connection.exec_driver_sql(statement)


def upgrade() -> None:
    _set_deletes(cascade=True)


def downgrade() -> None:
    _set_deletes(cascade=False)
