"""The assembled schema: root types composed from the feature modules, plus extensions."""

from __future__ import annotations

import strawberry

API_VERSION = "1"


@strawberry.type(description="Read operations of the dpor-gateway API.")
class Query:
    @strawberry.field(description="Version of this API's contract.")
    def api_version(self) -> str:
        return API_VERSION


def build_schema() -> strawberry.Schema:
    return strawberry.Schema(query=Query)


schema = build_schema()
