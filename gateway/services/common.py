"""Constants that more than one service reads, so that no service is imported only for them."""

from __future__ import annotations

from zoneinfo import ZoneInfo

#: Registers are taken in England; "today" (no register for a future date; the default window of a
#: view or a statistic) is London's date.
LONDON = ZoneInfo("Europe/London")
#: GIAS statuses of schools that may submit a register.
OPEN_STATUSES = frozenset({"Open", "Open, but proposed to close"})
