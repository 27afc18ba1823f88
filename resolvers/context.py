"""The per-request context every resolver receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from resolvers.pagination import MAX_PAGE_SIZE

if TYPE_CHECKING:
    from auth.principal import Principal
    from db.engine import Database
    from gateway.settings import Settings


@dataclass
class RequestContext:
    request: Request
    response: Response
    database: Database
    settings: Settings
    request_id: str
    principal: Principal | None = None
    # Per-request caches (DataLoaders, resolved caller scope): created on first use, dropped with the request.
    cache: dict[str, Any] = field(default_factory=dict)
    # DPOR_MAX_PAGE_SIZE: the bound every connection's `first` is checked against (and the cost check assumes).
    max_page_size: int = MAX_PAGE_SIZE
    # Which path answered a query: "interpreted" (the resolvers) or "compiled" (resolvers/compiled/). Logged only.
    execution_path: str = "interpreted"
