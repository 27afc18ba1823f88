"""The compiled path as the app would wire it with its usage row bound.

`CompiledReads` compiles usage fields only when it knows `max_usage_rows` (the compiled answer must refuse what
the interpreter refuses, TOO_MANY_USAGE_ROWS). schema/extensions/__init__.py builds it without that bound today,
so here the extension list is built as it would be with `max_usage_rows=config.usage.max_rows` passed: the
compiled tests then run what production runs once that argument is wired.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest

from resolvers.compiled.runner import CompiledReads
from schema import extensions, global_id
from schema.extensions.compiled_reads import CompiledReadsExtension
from schema.extensions.config import ExtensionConfig
from schema.root import build_schema


@pytest.fixture(autouse=True)
def usage_rows_wired(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    built = extensions.for_config

    def for_config(config: ExtensionConfig) -> list[Any]:
        found: list[Any] = built(config)
        for index, factory in enumerate(found):
            if isinstance(factory, partial) and factory.func is CompiledReadsExtension:
                reads = CompiledReads(
                    global_id.decode_any,
                    max_page_size=config.max_page_size,
                    max_usage_rows=config.usage.max_rows,
                    maxsize=config.compiled_plan_cache_size,
                )
                found[index] = partial(CompiledReadsExtension, reads=reads, seconds=factory.keywords["seconds"])
        return found

    build_schema.cache_clear()  # schemas built before were built without the bound
    monkeypatch.setattr(extensions, "for_config", for_config)
    yield
    build_schema.cache_clear()
