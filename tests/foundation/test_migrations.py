"""The metadata schema: Alembic revisions on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from mlops_kit.db import METADATA_DATABASES, MetadataDatabase, migrate
from mlops_kit.db.models import Base


def test_exactly_one_head() -> None:
    assert len(migrate.script().get_heads()) == 1


def test_every_revision_has_upgrade_and_downgrade() -> None:
    for revision in migrate.script().walk_revisions():
        module = revision.module
        assert callable(module.upgrade) and callable(module.downgrade), revision.revision


def test_upgrade_is_idempotent_and_round_trips(metadata_url: str) -> None:
    database = METADATA_DATABASES.open(metadata_url)
    try:
        assert migrate.current(database) is None
        before, after = migrate.upgrade(database)
        assert (before, after) == (None, migrate.head())
        assert migrate.upgrade(database) == (migrate.head(), migrate.head())
        migrate.downgrade(database, "base")
        assert migrate.current(database) is None
        migrate.upgrade(database)
        assert migrate.current(database) == migrate.head()
        with database.engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert diff == []
        assert database.check().endswith(f"schema at {migrate.head()}")
    finally:
        database.dispose()


def test_each_revision_downgrades_and_upgrades_one_step(metadata_url: str) -> None:
    database = METADATA_DATABASES.open(metadata_url)
    try:
        revisions = [r.revision for r in migrate.script().walk_revisions()][::-1]
        for revision in revisions:
            migrate.upgrade(database, revision)
            assert migrate.current(database) == revision
        for revision in reversed(revisions[:-1]):
            migrate.downgrade(database, revision)
            assert migrate.current(database) == revision
    finally:
        database.dispose()


def test_check_asks_for_an_upgrade_when_behind(metadata_url: str) -> None:
    from mlops_kit.errors import BackendError

    database = METADATA_DATABASES.open(metadata_url)
    try:
        with pytest.raises(BackendError, match="run `mlops-kit db upgrade`"):
            database.check()
    finally:
        database.dispose()


def test_unknown_revision_is_a_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from mlops_kit.errors import ConfigError

    database = METADATA_DATABASES.open(f"sqlite:///{tmp_path / 'm.db'}")
    with pytest.raises(ConfigError, match="unknown schema revision 'nope'"):
        migrate.upgrade(database, "nope")


def _insert_versions(database: MetadataDatabase, storage: dict[int, str]) -> None:
    """Record versions of dataset ``churn`` stored at ``storage`` (by version number), in SQL that
    any revision since 0002 accepts."""
    import sqlalchemy as sa

    from mlops_kit.db.models import utcnow

    with database.engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO datasets (id, name, description, created_at) VALUES (1, 'churn', '', :t)"
            ),
            {"t": utcnow()},
        )
        for version, location in storage.items():
            connection.execute(
                sa.text(
                    "INSERT INTO dataset_versions (dataset_id, version, status, fingerprint, "
                    "row_count, schema, source, storage, created_by, created_at, description, "
                    "tags) VALUES (1, :v, 'ready', 'ab12', 3, '[]', 'x', :s, 'u', :t, '', '{}')"
                ),
                {"v": version, "s": location, "t": utcnow()},
            )


def test_0009_stores_data_locations_relative_to_the_warehouse_folder_and_back(
    metadata_url: str, tmp_path
) -> None:
    import sqlalchemy as sa

    from mlops_kit.errors import ConfigError

    database = METADATA_DATABASES.open(metadata_url)
    versions = sa.table("dataset_versions", sa.column("version"), sa.column("storage"))
    old = {
        1: "/home/someone/project/.mlops/datasets/churn/ab12.parquet",  # DuckDB, before 0009
        2: "proj.mlops.churn#2",  # BigQuery: not a path, kept as it is
    }
    try:
        migrate.upgrade(database, "0008")
        _insert_versions(database, old)

        def stored() -> dict[int, str]:
            with database.engine.connect() as connection:
                return dict(
                    connection.execute(sa.select(versions.c.version, versions.c.storage)).all()
                )

        migrate.upgrade(database)
        assert stored() == {1: "datasets/churn/ab12.parquet", 2: "proj.mlops.churn#2"}
        with pytest.raises(ConfigError, match="1 data version\\(s\\) record their location"):
            migrate.downgrade(database, "0008")
        assert migrate.current(database) == migrate.head()  # the refused downgrade changed nothing
        moved = tmp_path / "moved"
        migrate.downgrade(database, "0008", f"duckdb://{moved}/warehouse.duckdb")
        assert stored() == {1: f"{moved}/datasets/churn/ab12.parquet", 2: "proj.mlops.churn#2"}
    finally:
        database.dispose()


def test_0010_leaves_versions_recorded_before_it_without_a_checksum(metadata_url: str) -> None:
    import sqlalchemy as sa

    database = METADATA_DATABASES.open(metadata_url)
    try:
        migrate.upgrade(database, "0009")
        _insert_versions(database, {1: "datasets/churn/ab12.parquet"})
        migrate.upgrade(database)
        query = sa.text("SELECT version, storage, checksum FROM dataset_versions")
        with database.engine.connect() as connection:
            assert connection.execute(query).all() == [(1, "datasets/churn/ab12.parquet", None)]
        migrate.downgrade(database, "0009")
        with database.engine.connect() as connection:
            assert connection.execute(sa.text("SELECT version FROM dataset_versions")).all() == [
                (1,)
            ]
    finally:
        database.dispose()


@pytest.mark.postgres
def test_postgresql_migrations_stay_in_the_tests_own_schema(postgres_url: str) -> None:
    """Other tests and checkouts share the database ``test``: nothing lands in ``public``."""
    from urllib.parse import parse_qs, urlsplit

    from sqlalchemy import text

    schema = parse_qs(urlsplit(postgres_url).query)["options"][0].removeprefix("-csearch_path=")
    database = METADATA_DATABASES.open(postgres_url)
    try:
        migrate.upgrade(database)
        with database.engine.connect() as connection:
            where = connection.execute(
                text("SELECT schemaname FROM pg_tables WHERE tablename = 'registered_models'")
            ).scalars()
            assert connection.execute(text("SELECT current_schema()")).scalar() == schema
            assert schema in set(where)
            version = connection.execute(
                text(
                    "SELECT relnamespace::regnamespace::text FROM pg_class "
                    "WHERE oid = to_regclass('alembic_version')"
                )
            )
            assert version.scalar() == schema
    finally:
        database.dispose()
