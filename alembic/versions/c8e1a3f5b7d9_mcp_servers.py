"""MCP servers: which server ran a tool call, and each conversation's servers switched off and tools allowed

Revision ID: c8e1a3f5b7d9
Revises: b5d7f9a1c3e5
Create Date: 2026-12-05 14:10:00

"""

from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = "c8e1a3f5b7d9"
down_revision: Union[str, Sequence[str], None] = "b5d7f9a1c3e5"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # Plain ADD COLUMN: earlier calls were the built-in tools' (server ""), earlier conversations use every server.
    op.add_column("tool_call", sa.Column("server", sa.String(length=32), server_default="", nullable=False))
    op.add_column("conversation", sa.Column("servers_off", sa.Text(), server_default="", nullable=False))
    op.add_column("conversation", sa.Column("tools_allowed", sa.Text(), server_default="", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.drop_column("tools_allowed")
        batch_op.drop_column("servers_off")
    with op.batch_alter_table("tool_call", schema=None) as batch_op:
        batch_op.drop_column("server")
