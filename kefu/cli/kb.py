"""``kefu kb``: import and export a licensee's knowledge base (CSV, XLSX or JSON)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from core.errors import ExitCode, InvalidInput, NotFound
from core.knowledge.store import import_rows, load_entries
from core.licensing.licensees import get_licensee
from core.types import utcnow
from kefu.cli.command import Typer, examples
from kefu.cli.database import database
from kefu.cli.options import JsonOpt, LicenseeOpt
from kefu.cli.output import emit

app = Typer(help="Import, export and delete a licensee's knowledge-base entries.")

PROGRESS_FROM_BYTES = 256 * 1024  # smaller files read faster than a bar can be seen


@app.command(
    "import",
    epilog=examples(
        "kefu kb import --licensee lic_… faq.xlsx",
        "kefu kb import --licensee lic_… faq.csv --skip-bad --json",
    ),
)
def kb_import(
    licensee: LicenseeOpt,
    file: Annotated[
        Path,
        typer.Argument(metavar="FILE", help="A .csv, .xlsx or .json file, one row per entry."),
    ],
    skip_bad: Annotated[
        bool, typer.Option("--skip-bad", help="Import the good rows even if some are bad.")
    ] = False,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace", help="Make the file the whole knowledge base: delete entries not in it."
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Import a knowledge base from CSV, XLSX or JSON.

    The same question again updates its entry. A file with bad rows imports nothing unless
    --skip-bad. With --replace the file becomes the whole knowledge base, in one transaction."""
    # Imported here, not at the top: the spreadsheet reader (openpyxl, which brings NumPy) and
    # the progress bar add about 0.3 s to the start of every other command (1.2 s -> 1.5 s for
    # `kefu licensee list`, median of 7, 2-core machine).
    from tqdm import tqdm

    from core.knowledge.files import read_kb_file

    with database() as (_s, db):
        with db.read_session() as session:
            get_licensee(session, licensee)
        if not file.is_file():
            raise InvalidInput(f"no such file: {file}")
        show_bar = not as_json and sys.stderr.isatty() and file.stat().st_size > PROGRESS_FROM_BYTES
        with tqdm(desc="reading", unit=" rows", disable=not show_bar, file=sys.stderr) as bar:

            def progress(rows: int) -> None:
                bar.update(rows - bar.n)

            result = read_kb_file(file, on_progress=progress)
        rejected = [{"line": r.line, "reason": r.reason} for r in result.rejected]
        added = updated = unchanged = deleted = 0
        if not rejected or skip_bad:
            rows = [p.row for p in result.rows]
            with db.session() as session:
                if replace:
                    from core.knowledge.editing import replace_all

                    replaced = replace_all(session, licensee, rows, utcnow())
                    deleted = replaced.deleted
                    added, updated, unchanged = replaced.added, replaced.updated, replaced.unchanged
                else:
                    counts = import_rows(session, licensee, rows, utcnow())
                    added, updated, unchanged = counts.added, counts.updated, counts.unchanged
                session.commit()
    data: dict[str, object] = {
        "added": added,
        "updated": updated,
        "unchanged": unchanged,
        "rejected": rejected,
    }
    if replace:
        data["deleted"] = deleted

    def human() -> str:
        gone = f", deleted {deleted}" if replace else ""
        lines = [
            f"added {added}, updated {updated}, unchanged {unchanged}{gone}, "
            f"rejected {len(rejected)}"
        ]
        lines += [f"  line {r['line']}: {r['reason']}" for r in rejected]
        if rejected and not skip_bad:
            lines.append("nothing was imported: fix the rows above or pass --skip-bad")
        return "\n".join(lines)

    emit(data, as_json, human)
    if rejected and not skip_bad:
        raise typer.Exit(ExitCode.FAILED)


@app.command(
    "delete",
    epilog=examples(
        "kefu kb delete --licensee lic_… --entry kb_…",
        "kefu kb delete --licensee lic_… --question '如何退款？' --json",
    ),
)
def kb_delete(
    licensee: LicenseeOpt,
    entry: Annotated[
        str | None, typer.Option("--entry", metavar="ID", help="The entry's id (kb_…).")
    ] = None,
    question: Annotated[
        str | None,
        typer.Option("--question", metavar="Q", help="The entry's standard question."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete one entry, named by its id or its standard question.

    The running servers stop answering with it at their next question."""
    from core.knowledge.editing import delete_entry, entry_dict, find_by_question

    if (entry is None) == (question is None):
        raise InvalidInput("name the entry with exactly one of --entry and --question")
    with database() as (_s, db), db.session() as session:
        get_licensee(session, licensee)
        if entry is None:
            assert question is not None
            found = find_by_question(session, licensee, question)
            if found is None:
                raise NotFound(f"no entry with the question {question!r}")
            entry = found.id
        gone = delete_entry(session, licensee, entry, utcnow())
        session.commit()
    emit(
        {"deleted": entry_dict(gone)},
        as_json,
        lambda: f"deleted {gone.id}: {gone.question}",
    )


@app.command("export", epilog=examples("kefu kb export --licensee lic_… faq.xlsx"))
def kb_export(
    licensee: LicenseeOpt,
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="Where to write: .csv, .xlsx or .json.")
    ],
    as_json: JsonOpt = False,
) -> None:
    """Export a licensee's knowledge base in the import format."""
    from core.knowledge.files import write_kb_file  # lazily, as in kb_import

    with database() as (_s, db), db.read_session() as session:
        get_licensee(session, licensee)
        entries = load_entries(session, licensee)
    write_kb_file(entries, file)
    emit(
        {"entries": len(entries), "file": str(file)},
        as_json,
        lambda: f"exported {len(entries)} entries",
    )


@app.command(
    "vectors",
    epilog=examples(
        "kefu kb vectors --licensee lic_…",
        "KEFU_RETRIEVAL_ENCODER=ollama kefu kb vectors --licensee lic_… --json",
    ),
)
def kb_vectors(licensee: LicenseeOpt, as_json: JsonOpt = False) -> None:
    """Encode and store the entries' vectors with the configured encoder.

    Only entries without vectors, or changed since, are encoded; servers load the stored ones.
    A server does this itself when it rebuilds an index: run it after a large import so that
    the servers find the vectors ready."""
    from bot.answerers.encoder import uncached
    from bot.answerers.entry_vectors import refresh_vectors
    from bot.answerers.indexing import encoder_for

    with database() as (settings, db):
        with db.read_session() as session:
            get_licensee(session, licensee)
        loading = encoder_for(settings)
        if loading is None:
            raise InvalidInput("KEFU_RETRIEVAL_ENCODER is off: there is nothing to encode")
        encoder = loading.wait()
        if encoder is None:
            raise InvalidInput("the sentence encoder could not be loaded (see the log)")
        try:
            encoded = refresh_vectors(db, licensee, encoder)
        finally:
            close = getattr(uncached(encoder), "close", None)  # an endpoint's connections
            if close is not None:
                close()
    data = {"encoder": encoder.name, "encoded": encoded}
    emit(data, as_json, lambda: f"encoded {encoded} entries with {encoder.name}")
