"""owners stored as ids: a SHA-256 of each browser's key instead of the key

Revision ID: b5d7f9a1c3e5
Revises: f2c4e6a8b0d1
Create Date: 2026-12-02 19:00:00

The key is a browser's bearer token; the database now holds only its hash (chatapp.owners.owner_id), so a
copy of it opens nothing. Every owner already stored is replaced by its id, which keeps each conversation and
category reachable from the browser that made it. There is no way back: a hash doesn't give its key again,
so the downgrade leaves the ids as they are (an app from before would then find no conversations).
"""

import hashlib
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "b5d7f9a1c3e5"
down_revision: Union[str, Sequence[str], None] = "f2c4e6a8b0d1"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

TABLES = ("conversation", "category")


def upgrade() -> None:
    connection = op.get_bind()
    for table in TABLES:
        owners = connection.execute(sa.text(f"SELECT DISTINCT owner FROM {table}")).scalars().all()
        if owners:
            connection.execute(
                sa.text(f"UPDATE {table} SET owner = :owner_id WHERE owner = :key"),
                [{"key": key, "owner_id": hashlib.sha256(key.encode()).hexdigest()} for key in owners],
            )


def downgrade() -> None:
    pass  # the keys can't be had back from their hashes
