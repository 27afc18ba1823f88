"""Running Alembic from code: the CLI, the app's readiness check and the tests share these."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

from alembic import command

# At the top of the repository, beside db/: found from this file, whatever the working directory.
ALEMBIC_INI = Path(__file__).resolve().parent.parent / "alembic.ini"


def alembic_config(database_url: str) -> Config:
    config = Config(str(ALEMBIC_INI))
    config.attributes["database_url"] = database_url
    return config


def head_revision() -> str:
    heads = ScriptDirectory.from_config(alembic_config("")).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"expected one migration head, found {heads}")
    return heads[0]


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


def migrate_to(database_url: str, target: str, current: str | None) -> None:
    """Move the schema from `current` to `target`, upgrading or downgrading as the revision graph says."""
    script = ScriptDirectory.from_config(alembic_config(database_url))
    older = {rev.revision for rev in script.iterate_revisions(current, "base")} - {current} if current else set()
    if target == "base" or target in older:
        downgrade(database_url, target)
    else:
        upgrade(database_url, target)


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())
