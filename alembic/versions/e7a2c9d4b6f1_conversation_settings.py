"""conversation settings: model, system prompt, temperature, max tokens

Revision ID: e7a2c9d4b6f1
Revises: 0a23f79dc911
Create Date: 2026-11-26 01:40:00

"""

from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = "e7a2c9d4b6f1"
down_revision: Union[str, Sequence[str], None] = "0a23f79dc911"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy of the table): existing conversations keep the app's defaults.
    op.add_column(
        "conversation", sa.Column("model", sa.String(length=200), server_default="", nullable=False)
    )
    op.add_column("conversation", sa.Column("system_prompt", sa.Text(), server_default="", nullable=False))
    op.add_column("conversation", sa.Column("temperature", sa.Float(), nullable=True))
    op.add_column("conversation", sa.Column("max_tokens", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.drop_column("max_tokens")
        batch_op.drop_column("temperature")
        batch_op.drop_column("system_prompt")
        batch_op.drop_column("model")
