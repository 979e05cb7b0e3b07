"""``mlops-kit db``: migrate the metadata database."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from mlops_kit.cli.output import console
from mlops_kit.cli.state import state

if TYPE_CHECKING:
    from mlops_kit.db import MetadataDatabase

app = typer.Typer(help="Migrate the metadata database.", no_args_is_help=True)


def _database(ctx: typer.Context) -> MetadataDatabase:
    """The environment's metadata database, opened without migrating it.

    The local twin's folder is made if missing, as on any first use.
    """
    from mlops_kit.db import METADATA_DATABASES

    environment = state(ctx).kit().environment
    environment.create_local_root()
    return METADATA_DATABASES.open(environment.metadata)


@app.command()
def upgrade(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Upgrade the schema to REVISION (default: the newest); a no-op when already there."""
    from mlops_kit.db import migrate

    database = _database(ctx)
    try:
        before, after = migrate.upgrade(database, revision)
    finally:
        database.dispose()
    if before == after:
        console.print(f"{database.display_url}: already at {after}, nothing to do")
    else:
        console.print(f"{database.display_url}: upgraded {before or 'empty'} -> {after}")


@app.command()
def downgrade(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help="Target revision, or 'base' for none.")],
) -> None:
    """Downgrade the schema to REVISION (data in dropped tables is lost)."""
    from mlops_kit.db import migrate

    database = _database(ctx)
    try:
        before, after = migrate.downgrade(
            database, revision, state(ctx).kit().environment.warehouse
        )
    finally:
        database.dispose()
    console.print(f"{database.display_url}: {before or 'empty'} -> {after}")


@app.command()
def current(ctx: typer.Context) -> None:
    """Print the schema revision of the database and the newest one the kit knows."""
    from mlops_kit.db import migrate

    database = _database(ctx)
    try:
        revision = migrate.current(database)
    finally:
        database.dispose()
    head = migrate.head()
    note = "up to date" if revision == head else "run `mlops-kit db upgrade`"
    console.print(f"{database.display_url}: at {revision or 'nothing'}, head {head} ({note})")
