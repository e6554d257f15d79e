"""Domain values: the sidebar's date groups, by calendar day."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chatapp.domain import date_group

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "group"),
    [
        (datetime(2026, 3, 15, 0, 0, tzinfo=UTC), "Today"),
        (datetime(2026, 3, 15, 18, 0, tzinfo=UTC), "Today"),
        (datetime(2026, 3, 14, 23, 59, tzinfo=UTC), "Yesterday"),
        (datetime(2026, 3, 14, 0, 0, tzinfo=UTC), "Yesterday"),
        (datetime(2026, 3, 13, 23, 0, tzinfo=UTC), "Previous 7 days"),
        (datetime(2026, 3, 8, 0, 0, tzinfo=UTC), "Previous 7 days"),
        (datetime(2026, 3, 7, 23, 59, tzinfo=UTC), "Previous 30 days"),
        (datetime(2026, 2, 13, 0, 0, tzinfo=UTC), "Previous 30 days"),
        (datetime(2026, 2, 12, 23, 59, tzinfo=UTC), "February 2026"),
        (datetime(2025, 12, 31, 8, 0, tzinfo=UTC), "December 2025"),
    ],
)
def test_date_group_counts_calendar_days_back_from_now(moment, group):
    assert date_group(moment, NOW) == group
