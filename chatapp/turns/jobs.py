"""The job registry of this process, made when first needed (nothing runs at import time)."""

from __future__ import annotations

import functools

from ..config import get_settings
from .registry import JobRegistry


@functools.cache
def registry() -> JobRegistry:
    """This process's registry, made when first needed (nothing runs at import time): Redis's when Reflex
    runs on Redis (REFLEX_REDIS_URL, several workers), else this process's memory."""
    settings = get_settings()
    if settings.redis_url:
        from .redis import RedisJobRegistry

        return RedisJobRegistry(settings.redis_url, settings.max_answers_per_owner)
    from .memory import MemoryJobRegistry

    return MemoryJobRegistry(max_answers_per_owner=settings.max_answers_per_owner)
