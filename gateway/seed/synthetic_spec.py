"""The size and shape of a synthetic dataset (`dpor-gateway seed --tenants N ...`): SyntheticSpec.

Its own module because every part of the generator reads it (the draws, the rows, the loader) and the CLI and
the benchmark build it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from gateway.seed.catalog import MAX_METERS_PER_SUBSCRIPTION


@dataclass(frozen=True, slots=True)
class SyntheticSpec:
    tenants: int
    subscriptions_per_tenant: int
    partners: int
    days: int
    end_date: date
    meters_per_day: int = 3
    seed: int = 1

    def __post_init__(self) -> None:
        for name in ("tenants", "subscriptions_per_tenant", "partners", "days", "meters_per_day"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.meters_per_day > MAX_METERS_PER_SUBSCRIPTION:
            raise ValueError(f"meters_per_day can be at most {MAX_METERS_PER_SUBSCRIPTION} (distinct meters per offer)")

    @property
    def first_day(self) -> date:
        return self.end_date - timedelta(days=self.days - 1)

    @property
    def window(self) -> tuple[datetime, datetime]:
        """The usage window as instants: [first day 00:00, day after the last 00:00) UTC."""
        start = datetime(self.first_day.year, self.first_day.month, self.first_day.day, tzinfo=UTC)
        return start, start + timedelta(days=self.days)

    def usage_rows(self) -> int:
        return self.tenants * self.subscriptions_per_tenant * self.days * self.meters_per_day
