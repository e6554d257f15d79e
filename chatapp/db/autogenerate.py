"""Keeps `reflex db makemigrations` and Reflex's start-up check from offering to drop the search index.

The FTS5 tables (with their shadow tables) and the GIN indexes are made by raw DDL in search.py, so the models
don't declare them, and autogenerate would read them as leftovers to drop. Reflex configures Alembic itself
(alembic/env.py is not used), so `include_object` can't be passed; instead a comparator registered on
Alembic's global registry runs after the built-in ones and takes those operations out again.
"""

from __future__ import annotations

from typing import Any

from alembic.autogenerate.compare import comparators
from alembic.operations import ops
from alembic.util import DispatchPriority, PriorityDispatchResult

from .search import is_search_index_object


def _touches_search_index(op: Any) -> bool:
    if isinstance(op, ops.DropTableOp | ops.CreateTableOp):
        return is_search_index_object(op.table_name)
    if isinstance(op, ops.DropIndexOp | ops.CreateIndexOp):
        return is_search_index_object(op.index_name)
    return False


@comparators.dispatch_for("autogenerate", priority=DispatchPriority.LAST)
def _leave_the_search_index_alone(_context: Any, upgrade_ops: ops.UpgradeOps) -> PriorityDispatchResult:
    kept = []
    for op in upgrade_ops.ops:
        if isinstance(op, ops.ModifyTableOps):
            op.ops = [inner for inner in op.ops if not _touches_search_index(inner)]
            if not op.ops:
                continue
        if not _touches_search_index(op):
            kept.append(op)
    upgrade_ops.ops = kept
    return PriorityDispatchResult.CONTINUE
