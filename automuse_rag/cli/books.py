"""Commands: ``automuse books list`` and ``automuse books get``."""

from __future__ import annotations

import typer
from rich.table import Table

from automuse_rag import books as library
from automuse_rag.cli.common import console, print_json, settings

books_app = typer.Typer(
    help="The book catalog and the Project Gutenberg downloader.\n\nExample: automuse books get alice",
    no_args_is_help=True,
)

MIRROR_HELP = (
    "Gutenberg mirror: an http(s) URL or a directory with cache/epub/ID/pgID.txt "
    "(env AUTOMUSE_GUTENBERG_MIRROR; default https://www.gutenberg.org)."
)


@books_app.command("list")
def list_books(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array instead of a table."),
) -> None:
    """List the catalog's books and whether each is already downloaded.

    Shows ID, short name, title and author, and whether HOME/books has the text.

    Example: automuse books list
    """
    cfg = settings(ctx)
    rows = [{**vars(entry), "downloaded": library.downloaded_path(cfg, entry.id).is_file()} for entry in library.catalog()]
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"Book catalog ({len(rows)} books; also: 'sample', the project's own story)")
    for column in ("ID", "name", "title", "author", "downloaded"):
        table.add_column(column, justify="right" if column == "ID" else "left")
    for row in rows:
        table.add_row(str(row["id"]), row["name"], row["title"], row["author"], "yes" if row["downloaded"] else "")
    console.print(table)


@books_app.command("get")
def get_books(
    ctx: typer.Context,
    name_or_id: list[str] = typer.Argument(..., metavar="NAME_OR_ID", help="Catalog short names or Gutenberg IDs."),
    mirror: str | None = typer.Option(None, "--mirror", help=MIRROR_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array of {spec, path, downloaded}."),
) -> None:
    """Download books' plain-text editions into HOME/books.

    Saves each as HOME/books/pgID.txt after checking it is text; a book already
    there is left alone (no network).

    Example: automuse books get alice 84 --mirror ../shared/data/gutenberg
    """
    cfg = settings(ctx, gutenberg_mirror=mirror)
    results = []
    for spec in name_or_id:
        fetched = library.fetch(spec, cfg, mirror)
        results.append({"spec": spec, "path": str(fetched.path), "downloaded": fetched.downloaded})
        if not as_json:
            status = "downloaded" if fetched.downloaded else "already present"
            console.print(f"{spec}: {status} [bold]{fetched.path}[/bold]", highlight=False)
    if as_json:
        print_json(results)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.add_typer(books_app, name="books")
