"""``kefu model``: a licensee's own model chain (primary, secondary); the built-in answerer is
always the last link. API keys are read from an environment variable or standard input (never
from the command line, where shells and process lists keep them), sealed, and never shown."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from core.errors import InvalidInput, NotFound
from core.licensing import model_chain as model_config
from core.licensing.licensees import get_licensee
from core.types import utcnow
from kefu.cli.command import Typer, examples
from kefu.cli.database import database
from kefu.cli.options import JsonOpt, LicenseeArg
from kefu.cli.output import emit

app = Typer(help="A licensee's own model chain.")

SlotOpt = Annotated[int, typer.Option("--slot", metavar="N", help="1 = primary, 2 = secondary.")]


def _api_key(env: str | None, stdin: bool) -> str | None:
    if env and stdin:
        raise InvalidInput("give the API key with --api-key-env or --api-key-stdin, not both")
    if env:
        value = os.environ.get(env)
        if not value:
            raise InvalidInput(f"environment variable {env} is not set")
        return value
    if stdin:
        value = sys.stdin.readline().strip()
        if not value:
            raise InvalidInput("no API key on standard input")
        return value
    return None


@app.command(
    "set",
    epilog=examples(
        "DEEPSEEK_KEY=sk-… kefu model set lic_… --provider openai"
        " --base-url https://api.deepseek.com/v1 --model deepseek-chat --api-key-env DEEPSEEK_KEY",
        "kefu model set lic_… --slot 2 --provider ollama --base-url http://127.0.0.1:11434"
        " --model qwen2.5",
    ),
)
def model_set(
    licensee_id: LicenseeArg,
    provider: Annotated[
        str,
        typer.Option(metavar="openai|ollama", help="openai (any OpenAI-compatible API) or ollama."),
    ],
    base_url: Annotated[str, typer.Option(metavar="URL", help="e.g. https://api.deepseek.com/v1")],
    model: Annotated[str, typer.Option(metavar="MODEL", help="The provider's model name.")],
    slot: SlotOpt = 1,
    api_key_env: Annotated[
        str | None,
        typer.Option(metavar="VAR", help="Read the API key from this environment variable."),
    ] = None,
    api_key_stdin: Annotated[
        bool,
        typer.Option(
            "--api-key-stdin", help="Read the API key from the first line of standard input."
        ),
    ] = False,
    clear_api_key: Annotated[
        bool,
        typer.Option("--clear-api-key", help="Remove the stored API key (otherwise it is kept)."),
    ] = False,
    first_token_timeout: Annotated[
        float, typer.Option(metavar="SECONDS", help="Seconds to wait for the first token.")
    ] = 10.0,
    timeout: Annotated[
        float, typer.Option(metavar="SECONDS", help="Seconds for the whole answer.")
    ] = 60.0,
    as_json: JsonOpt = False,
) -> None:
    """Set one model of a licensee's chain.

    It replaces the platform's default model for this licensee."""
    key = _api_key(api_key_env, api_key_stdin)
    if clear_api_key:
        if key is not None:
            raise InvalidInput("--clear-api-key and a new API key exclude each other")
        key = ""
    with database() as (settings, db), db.session() as session:
        row = model_config.set_link(
            session,
            settings,
            licensee_id,
            slot=slot,
            provider=provider,
            base_url=base_url,
            model=model,
            api_key=key,
            first_token_timeout=first_token_timeout,
            total_timeout=timeout,
            now=utcnow(),
        )
        session.commit()
        shown = model_config.describe(row)
    emit(
        {"licensee": licensee_id, **shown},
        as_json,
        lambda: (
            f"slot {slot}: {shown['provider']} {shown['model']} at {shown['base_url']}"
            f" (API key {'set' if shown['api_key'] else 'none'})"
        ),
    )


@app.command("clear")
def model_clear(licensee_id: LicenseeArg, slot: SlotOpt, as_json: JsonOpt = False) -> None:
    """Remove one model of a licensee's chain."""
    with database() as (_settings, db), db.session() as session:
        removed = model_config.clear_link(session, licensee_id, slot, utcnow())
        session.commit()
    if not removed:
        raise NotFound(f"licensee {licensee_id} has no model in slot {slot}")
    emit({"licensee": licensee_id, "slot": slot, "removed": True}, as_json, lambda: "removed")


@app.command("list")
def model_list(licensee_id: LicenseeArg, as_json: JsonOpt = False) -> None:
    """The licensee's chain as it answers now.

    API keys are never shown."""
    with database() as (settings, db), db.session() as session:
        get_licensee(session, licensee_id)
        own = [model_config.describe(r) for r in model_config.rows(session, licensee_id)]
        platform = [
            {
                "provider": link.provider.value,
                "base_url": link.base_url,
                "model": link.model,
                "api_key": "set" if link.api_key else None,
            }
            for link in model_config.platform_links(settings)
        ]
    chain = own or platform
    data = {
        "licensee": licensee_id,
        "source": "licensee" if own else ("platform" if platform else "built-in only"),
        "models": chain,
        "last": "kefu-kb-1 (built-in answerer)",
    }

    def human() -> str:
        lines = [f"{i}. {m['provider']} {m['model']} at {m['base_url']}" for i, m in
                 enumerate(chain, 1)]  # fmt: skip
        lines.append(f"{len(chain) + 1}. the built-in knowledge-base answerer")
        return f"({data['source']})\n" + "\n".join(lines)

    emit(data, as_json, human)
