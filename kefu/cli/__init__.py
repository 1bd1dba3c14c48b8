"""The ``kefu`` command line: one module per command group, each thin (parse, call ``core``,
print); ``kefu.cli.command`` turns core errors into messages and exit codes."""

from __future__ import annotations

from kefu.cli import (
    accounts,
    archive,
    kb,
    key,
    licensee,
    maintenance,
    model,
    origin,
    outage,
    price,
    report,
    serve,
    statement,
    tokens,
    usage,
)
from kefu.cli.command import Typer, examples

app = Typer(
    help="Kefu: a licensed customer-service robot.",
    epilog=examples(
        "kefu demo",
        'kefu licensee create --name "Example Shop" --origin https://shop.example.com',
        "kefu licensee create --help",
    ),
)
app.add_typer(serve.app)
app.add_typer(licensee.app, name="licensee")
app.add_typer(key.app, name="key")
app.add_typer(origin.app, name="origin")
app.add_typer(kb.app, name="kb")
app.add_typer(usage.app)
app.add_typer(model.app, name="model")
app.add_typer(tokens.app, name="tokens")
app.add_typer(maintenance.app, name="maintenance")
app.add_typer(price.app, name="price")
app.add_typer(statement.app, name="statement")
app.add_typer(outage.app, name="outage")
app.add_typer(outage.availability_app)
app.add_typer(archive.app, name="archive")
app.add_typer(accounts.admin_app, name="admin")
app.add_typer(accounts.user_app, name="user")
app.add_typer(report.app, name="report")


def main() -> None:
    app()
