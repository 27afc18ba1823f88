"""The assembled schema: root types composed from the feature modules, plus extensions."""

from __future__ import annotations

import strawberry

from gateway.settings import Settings
from schema import extensions

API_VERSION = "1"


@strawberry.type(description="Read operations of the dpor-gateway API.")
class Query:
    @strawberry.field(description="Version of this API's contract.")
    def api_version(self) -> str:
        return API_VERSION


def build_schema(settings: Settings) -> strawberry.Schema:
    return strawberry.Schema(query=Query, extensions=extensions.for_settings(settings))


def sdl() -> str:
    """The contract, independent of settings (extensions do not change types)."""
    return strawberry.Schema(query=Query).as_str() + "\n"
