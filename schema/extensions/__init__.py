"""Schema extensions (limits, cost, persisted documents, observability), one small module each.

`for_settings` is the single place that decides which run, in which order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from strawberry.extensions import SchemaExtension

    from gateway.settings import Settings


def for_settings(settings: Settings) -> list[SchemaExtension | type[SchemaExtension]]:
    return []
