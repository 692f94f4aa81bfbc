"""``msgkit preview``, ``import``, ``lists``, ``delete-list``."""

from __future__ import annotations

import csv
import io
import itertools
from pathlib import Path

import click
from rich.table import Table

from msgkit.cli._app import State, console, pass_state
from msgkit.exceptions import ConfigError
from msgkit.io import ImportSummary, Preview, preview

__all__ = ["parse_variables", "print_import", "print_preview", "register"]


def existing_file(path: str) -> Path:
    """``path`` as a file that exists, else a ConfigError saying so."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(
            f"no file {path}", key="FILE", hint="check the path (CSV or XLSX recipient file)"
        )
    return file


def parse_variables(pairs: tuple[str, ...]) -> dict[str, str]:
    """``--var name=COLUMN`` options as a mapping; a malformed one is a ConfigError."""
    found: dict[str, str] = {}
    for pair in pairs:
        name, sep, column = pair.partition("=")
        if not sep or not name.strip() or not column.strip():
            raise ConfigError(
                f"{pair!r} is not a variable mapping",
                key="--var",
                hint="write --var NAME=COLUMN, e.g. --var name=Name",
            )
        found[name.strip()] = column.strip()
    return found


def print_preview(shown: Preview) -> None:
    """The columns, first rows and row count of a file, as a table."""
    table = Table(title=f"{shown.name or 'file'}: {shown.row_count} rows", title_justify="left")
    for column in shown.columns:
        table.add_column(column)
    for row in shown.rows:
        table.add_row(*row)
    console.print(table)
    how = (
        f"CSV, {shown.encoding}, delimiter {shown.delimiter!r}"
        if shown.format == "csv"
        else f"XLSX, sheet {shown.sheet!r}"
    )
    console.print(f"{how}; columns: {', '.join(shown.columns)}")


def print_import(summary: ImportSummary) -> None:
    """How many rows were read, imported and rejected (by reason)."""
    console.print(str(summary))


@click.command("preview")
@click.argument("file")
@click.option("--phone", metavar="COLUMN", help="also check this phone column (bad rows)")
@click.option("--region", help="region of national numbers, e.g. TW")
def preview_command(file: str, phone: str | None, region: str | None) -> None:
    """The first rows, row count, columns (and with --phone, the bad rows) of FILE."""
    shown = preview(existing_file(file))
    print_preview(shown)
    if phone is not None:
        from msgkit.io import ColumnMapping, import_contacts  # noqa: PLC0415

        with import_contacts(Path(file), ColumnMapping(phone=phone), region=region) as job:
            for _ in job.batches(5000):
                pass
            rejected = list(itertools.islice(job.iter_rejections(), 10))
            console.print(str(job.summary))
        for rejection in rejected[:10]:
            console.print(f"  row {rejection.row}, {rejection.column}: {rejection.reason.value}")


@click.command("import")
@click.argument("file")
@click.option("--phone", metavar="COLUMN", required=True, help="the phone column")
@click.option("--var", "variables", metavar="NAME=COLUMN", multiple=True, help="a variable")
@click.option("--name", help="the list's name (default: the file name)")
@click.option("--region", help="region of national numbers, e.g. TW")
@click.option(
    "--on-bad-value",
    type=click.Choice(["reject_row", "blank_cell"]),
    default="reject_row",
    show_default=True,
    help="a bad optional cell (a date that is not a date...): reject its row, or import "
    "the contact without it",
)
@pass_state
def import_command(
    state: State,
    *,
    file: str,
    phone: str,
    variables: tuple[str, ...],
    name: str | None,
    region: str | None,
    on_bad_value: str,
) -> None:
    """Import FILE (CSV or XLSX) as a stored list."""
    imported = state.client().import_list(
        existing_file(file),
        phone=phone,
        variables=parse_variables(variables),
        name=name,
        region=region,
        on_bad_value=on_bad_value,
    )
    console.print(f"list {imported.name!r} ({imported.id})")
    print_import(imported.summary)
    blanked = csv.reader(io.StringIO(imported.blanked_cells_csv))
    for row, column, reason, *_ in itertools.islice(blanked, 1, 11):
        console.print(f"  row {row}, {column}: {reason} (left empty)")


@click.command("lists")
@pass_state
def lists_command(state: State) -> None:
    """The stored lists."""
    table = Table("id", "name", "rows", "rejected", "columns", "created")
    for info in state.client().lists():
        table.add_row(
            info["id"],
            info["name"],
            str(info["rows"]),
            str(info["rejected"]),
            ", ".join(info["columns"]),
            info["created_at"].strftime("%Y-%m-%d %H:%M"),
        )
    console.print(table)


@click.command("delete-list")
@click.argument("list_id", metavar="LIST")
@pass_state
def delete_list_command(state: State, list_id: str) -> None:
    """Remove LIST (its id, or its name when only one list has it) and its rows."""
    client = state.client()
    matches = [i["id"] for i in client.lists() if list_id in (i["id"], i["name"])]
    if len(matches) > 1:
        raise ConfigError(
            f"{len(matches)} lists are named {list_id!r}",
            key="LIST",
            hint="give its id (see msgkit lists)",
        )
    client.delete_list(matches[0] if matches else list_id)
    console.print(f"deleted list {list_id}")


def register(group: click.Group) -> None:
    """Add these commands to ``group``."""
    for command in (preview_command, import_command, lists_command, delete_list_command):
        group.add_command(command)
