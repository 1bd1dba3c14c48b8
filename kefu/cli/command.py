"""The ``kefu`` command classes: help that reads like a command line, and core errors as exit
codes (the one place the CLI maps ``core.errors``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

from core.errors import KefuError


def metavar(param: Any) -> str:
    """What a value is called in help: the given metavar, else the name in capitals (FILE)."""
    return str(param.metavar or param.name.upper())


def _option_record(param: Any) -> tuple[str, str]:
    names = ", ".join(param.opts)
    if param.secondary_opts:
        names += " / " + ", ".join(param.secondary_opts)
    if not param.is_flag:
        names += f" {metavar(param)}"
    extra = []
    if param.multiple:
        extra.append("repeatable")
    if param.required:
        extra.append("required")
    elif not param.is_flag and param.default not in (None, "", ()) and param.show_default:
        extra.append(f"default: {param.default}")
    text = param.help or ""
    return names, f"{text}  [{'; '.join(extra)}]" if extra else text


class Command(TyperCommand):
    """A command whose help shows ``--origin ORIGIN``, ``--json`` and ``FILE``, not types.

    The context and formatter are typed ``Any``: Typer's own types for them live in a private
    module."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                name = metavar(param)
                pieces.append(name if param.required else f"[{name}]")
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        params: list[Any] = [p for p in self.get_params(ctx) if not getattr(p, "hidden", False)]
        arguments = [(metavar(p), p.help or "") for p in params if p.param_type_name == "argument"]
        options = [_option_record(p) for p in params if p.param_type_name == "option"]
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


class Group(TyperGroup):
    """A command group; a ``KefuError`` from any command below it becomes ``error: …`` on
    stderr and the error's exit code (``core.errors.ExitCode``), never a traceback."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except KefuError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(int(exc.exit_code)) from None


class Typer(typer.Typer):
    """``typer.Typer`` with Kefu's command classes and plain help (no type column)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            cls=Group,
            rich_markup_mode=None,
            no_args_is_help=True,
            add_completion=False,
            pretty_exceptions_enable=False,
            **kwargs,
        )

    def command(  # type: ignore[override]
        self, name: str | None = None, *, cls: type[TyperCommand] = Command, **kwargs: Any
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return super().command(name, cls=cls, **kwargs)


def examples(*lines: str) -> str:
    """An epilog of example command lines, kept as written (``\\b`` stops re-wrapping)."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)
