"""``mlops-kit data``: snapshot, list, show, profile and diff dataset versions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mlops_kit.cli.options import DatasetRef
from mlops_kit.cli.output import (
    FormatOption,
    OutputFormat,
    console,
    err_console,
    print_result,
    table,
)
from mlops_kit.cli.progress import progress
from mlops_kit.cli.state import state
from mlops_kit.data import RULES
from mlops_kit.errors import ConfigError
from mlops_kit.provenance import current_user

app = typer.Typer(help="Immutable dataset versions, profiles and diffs.", no_args_is_help=True)


def _tags(values: list[str]) -> dict[str, str]:
    tags = {}
    for value in values:
        key, separator, text = value.partition("=")
        if not separator or not key:
            raise ConfigError(f"malformed tag {value!r}: use KEY=VALUE")
        tags[key] = text
    return tags


def _print_version(version: Any) -> None:
    manifest = version.to_json()
    schema = manifest.pop("schema")
    console.print(
        table(None, ["field", "value"], [[k, v] for k, v in manifest.items() if k != "ref"])
    )
    console.print(table("schema", ["column", "type"], [[c["name"], c["type"]] for c in schema]))


@app.command()
def snapshot(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Dataset name (created on first snapshot).")],
    path: Annotated[
        Path | None, typer.Option("--from", help="A Parquet, CSV or JSON-lines file.")
    ] = None,
    query: Annotated[str | None, typer.Option(help="A SQL query in the warehouse.")] = None,
    table_name: Annotated[
        str | None, typer.Option("--table", help="A table in the warehouse.")
    ] = None,
    description: Annotated[str, typer.Option("--description", "-d", help="Free text.")] = "",
    tag: Annotated[list[str] | None, typer.Option(help="KEY=VALUE label (repeatable).")] = None,
    force: Annotated[
        bool, typer.Option("--force", help="New version even if the content is identical.")
    ] = False,
    output: FormatOption = OutputFormat.table,
) -> None:
    """Create an immutable version of NAME from a file, a query or a table."""
    from mlops_kit import data

    kit = state(ctx).kit()
    details = data.VersionDetails(
        description=description, tags=_tags(tag or []), created_by=current_user()
    )
    with progress(output) as shown:
        version = data.snapshot(
            kit,
            name,
            path=path,
            query=query,
            table=table_name,
            details=details,
            force=force,
            progress=shown,
        )
    if version.created:
        line = f"created {version.ref}: {version.row_count} rows, fingerprint {version.fingerprint[:12]}"
    else:
        line = (
            f"identical content is already {version.ref}: no new version "
            "(use --force to make one anyway)"
        )
    print_result(
        output, version.to_json() | {"created": version.created}, lambda: console.print(line)
    )


@app.command()
def versions(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    output: FormatOption = OutputFormat.table,
) -> None:
    """List the versions of NAME, oldest first."""
    from mlops_kit import data

    found = data.list_versions(state(ctx).kit(), name)
    rows = [
        [
            v.version,
            v.row_count,
            v.fingerprint[:12],
            f"{v.created_at:%Y-%m-%d %H:%M}",
            v.created_by,
            (v.git_commit or "")[:8],
            v.description,
        ]
        for v in found
    ]
    columns = ["version", "rows", "fingerprint", "created", "by", "git", "description"]
    print_result(
        output,
        [version.to_json() for version in found],
        lambda: console.print(table(name, columns, rows)),
    )


@app.command()
def gc(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only list what would be removed.")
    ] = False,
    output: FormatOption = OutputFormat.table,
) -> None:
    """Remove stored data that no version references (left by failed or crashed snapshots)."""
    from mlops_kit import data

    found = data.collect_garbage(state(ctx).kit(), dry_run=dry_run)

    def for_people() -> None:
        verb = "would remove" if dry_run else "removed"
        for location in found:
            console.print(f"{verb} {location}")
        console.print(f"{verb} {len(found)} unreferenced item(s)")

    print_result(output, {"dry_run": dry_run, "locations": found}, for_people)


@app.command()
def show(ctx: typer.Context, ref: DatasetRef, output: FormatOption = OutputFormat.table) -> None:
    """Show the manifest of a version."""
    from mlops_kit import data

    version = data.get_version(state(ctx).kit(), ref)
    print_result(output, version.to_json(), lambda: _print_version(version))


@app.command()
def profile(ctx: typer.Context, ref: DatasetRef, output: FormatOption = OutputFormat.table) -> None:
    """Per-column statistics of a version (computed once, then read from the manifest)."""
    from mlops_kit import data

    with progress(output) as shown:
        result = data.profile(state(ctx).kit(), ref, shown)
    print_result(output, result, lambda: _print_profile(ref, result))


def _print_profile(ref: str, result: dict[str, Any]) -> None:
    from mlops_kit.reports import format_number

    rows = []
    for name, column in result["columns"].items():
        top = ", ".join(f"{value} ({count})" for value, count in column.get("top", [])[:3])
        rows.append(
            [
                name,
                column["type"],
                f"{column['null_rate']:.3f}",
                column["distinct"],
                format_number(column.get("min")),
                format_number(column.get("max")),
                format_number(column.get("mean")),
                format_number(column.get("std")),
                top,
            ]
        )
    console.print(
        table(
            f"{ref}: {result['row_count']} rows",
            ["column", "type", "null rate", "distinct", "min", "max", "mean", "std", "top"],
            rows,
        )
    )


@app.command()
def diff(
    ctx: typer.Context,
    a: DatasetRef,
    b: Annotated[str, typer.Argument(help="Another version, or a file path.")],
    key: Annotated[
        str | None, typer.Option(help="Unique key column: report added/removed/changed rows.")
    ] = None,
    output: FormatOption = OutputFormat.table,
    html: Annotated[
        Path | None, typer.Option("--html", help="Write a self-contained HTML page here.")
    ] = None,
    fail_on: Annotated[
        str | None,
        typer.Option(
            "--fail-on",
            help="Exit 1 if any rule breaks (comma-separated, quoted in a shell): "
            + "; ".join(rule.describe() for rule in RULES)
            + ".",
        ),
    ] = None,
) -> None:
    """Compare version a (the reference) with b: schema, rows, types, distributions."""
    from mlops_kit import data

    # Dataset names hold no "." or "/", so such an argument is a file.
    target: str | Path = Path(b) if "." in b or "/" in b else b
    rules = data.parse_rules(fail_on or "")
    with progress(output) as shown:
        result = data.diff(state(ctx).kit(), a, target, key=key, progress=shown)
    broken = result.violations(rules)
    if html is not None:
        data.diff_page(result).write(html)

    def for_people() -> None:
        _print_diff(result.summary)
        if html is not None:
            console.print(f"report written to {html}")

    print_result(output, result.summary | {"violations": broken}, for_people, result.findings)
    for line in broken:
        err_console.print(f"fail: {line}", markup=False, highlight=False)
    if broken:
        raise typer.Exit(1)


def _print_diff(summary: dict[str, Any]) -> None:
    from mlops_kit.reports import format_number

    rows = summary["rows"]
    console.print(
        f"{summary['a']['ref']} → {summary['b']['ref']}: rows {rows['a']} → {rows['b']} "
        f"({rows['change']:+d}){', identical content' if summary['identical'] else ''}"
    )
    schema = summary["schema"]
    changes = [["added", c["name"], "", c["type"]] for c in schema["added"]]
    changes += [["removed", c["name"], c["type"], ""] for c in schema["removed"]]
    changes += [["retyped", c["name"], c["from"], c["to"]] for c in schema["retyped"]]
    if changes:
        console.print(table("schema changes", ["change", "column", "before", "after"], changes))
    conformance = summary["conformance"]
    broken = {name: item for name, item in conformance.items() if item["nonconforming"]}
    if broken:
        console.print(
            table(
                "type conformance: values that do not parse as the expected type",
                ["column", "expected", "nonconforming", "of", "examples"],
                [
                    [
                        name,
                        item["expected"],
                        item["nonconforming"],
                        item["checked"],
                        ", ".join(f"{value!r} ×{count}" for value, count in item["examples"]),
                    ]
                    for name, item in broken.items()
                ],
            )
        )
    column_rows = []
    for name, column in summary["columns"].items():
        drift = column["drift"] or {}
        measure = ""
        if "psi" in drift:
            measure = f"PSI {drift['psi']:.3f} KS {drift['ks']:.3f}"
        elif "js" in drift:
            measure = f"JS {drift['js']:.3f}"
        categories = column.get("categories") or {}
        new = ", ".join(map(str, categories.get("new", [])[:3]))
        if categories.get("new_count", 0) > 3:
            new += f" (+{categories['new_count'] - 3})"
        column_rows.append(
            [
                name,
                f"{column['a']['null_rate']:.3f} → {column['b']['null_rate']:.3f}",
                f"{column['a']['distinct']} → {column['b']['distinct']}",
                f"{format_number(column['a'].get('mean'))} → {format_number(column['b'].get('mean'))}",
                measure,
                new,
            ]
        )
    console.print(
        table(
            "columns",
            ["column", "null rate", "distinct", "mean", "drift", "new values"],
            column_rows,
        )
    )
    keys = summary.get("keys")
    if keys:
        console.print(
            table(
                f"rows by key {keys['key']}",
                ["change", "rows", "examples"],
                [
                    [kind, keys[kind], ", ".join(keys["examples"][kind])]
                    for kind in ("added", "removed", "changed")
                ],
            )
        )
