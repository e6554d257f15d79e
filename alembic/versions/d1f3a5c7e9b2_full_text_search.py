"""full-text search

Revision ID: d1f3a5c7e9b2
Revises: e7a2c9d4b6f1
Create Date: 2026-11-26 01:21:49.000000

The search index over titles and messages: on SQLite, FTS5 tables kept current by triggers and filled from
the rows already there; on Postgres, GIN indexes over to_tsvector('simple', ...). The statements come from
chatapp.db.search, which `db.create_tables` runs too, so a migrated database and a test's fresh one get the
same index. If they change there, copy these ones here first: a migration must keep doing what it did.

No model declares these objects; chatapp/db/autogenerate.py keeps `reflex db makemigrations` (and Reflex's
start-up check) from offering to drop them.
"""
from typing import Sequence, Union

from alembic import op

from chatapp.db.search import create_search_index, drop_search_index

# revision identifiers, used by Alembic.
revision: str = 'd1f3a5c7e9b2'
down_revision: Union[str, Sequence[str], None] = 'e7a2c9d4b6f1'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    create_search_index(op.get_bind())


def downgrade() -> None:
    """Downgrade schema."""
    drop_search_index(op.get_bind())
