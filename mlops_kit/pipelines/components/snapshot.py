"""Snapshot the training data: an immutable, numbered version of the source."""

# No postponed annotations: KFP reads this signature.


def snapshot_data(environment: str, dataset: str, source: str, git_commit: str) -> str:
    """Version the rows of ``source`` as the next version of ``dataset``.

    Identical content returns the existing version instead of a new one.

    Args:
        environment: the environment, secrets hidden (``Environment.run_parameter``).
        dataset: the dataset name.
        source: a Parquet or CSV file path, ``table:NAME`` or ``query:SELECT ...``.
        git_commit: the project's commit that runs the pipeline (empty: unknown).

    Returns:
        The reference of the version (``churn@3``).
    """
    from mlops_kit import data
    from mlops_kit.environments import Environment
    from mlops_kit.kit import Kit

    kind, _, rest = source.partition(":")
    with Kit(Environment.from_run_parameter(environment)) as kit:
        version = data.snapshot(
            kit,
            dataset,
            path=None if kind in ("table", "query") else source,
            table=rest if kind == "table" else None,
            query=rest if kind == "query" else None,
            details=data.VersionDetails(git_commit=git_commit or None),
        )
    state = "new" if version.created else "unchanged, reused"
    print(f"snapshot: {version.ref} ({version.row_count} rows, {state})")
    return version.ref
