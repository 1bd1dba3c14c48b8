"""Knowledge-base pages: entries (list, search, add, edit, delete), import and export, the hit
test and the unanswered questions. The robot's model chain and look are in ``robot.py``."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func
from sqlmodel import select

from admin.deps import ContextDep
from admin.i18n.errors import error_text
from admin.kb_access import KbReaderDep, KbWriterDep, licensee_for
from admin.render import render
from admin.services import kb
from core.chat.unanswered import DAYS, unanswered_questions
from core.db.tables import KbEntryRecord, Licensee
from core.errors import Conflict, InvalidInput, KefuError, NotFound
from core.knowledge import editing
from core.knowledge.entries import KbRow
from core.knowledge.files import (
    FORMATS,
    KbFileError,
    check_row,
    read_kb_bytes,
    several,
    write_kb_bytes,
)
from core.knowledge.hit_test import HitTester, HitTestResult
from core.knowledge.store import load_entries
from core.licensing.service_period import zone
from core.types import utcnow

router = APIRouter()

PER_PAGE = 25
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
# What a redirect may announce: a key, never text from the request.
DONE = {"saved": "kb.saved", "deleted": "kb.saved", "taught": "kb.saved"}
MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
}


def _base(licensee_id: str) -> str:
    return f"/admin/kb/{licensee_id}"


def _lines(text: str) -> list[str]:
    return [line for line in text.replace("\r", "").split("\n")]


def _tags(text: str) -> list[str]:
    return text.replace("，", ",").replace("\n", ",").split(",")


def _form_row(form: Any) -> KbRow:
    def text(name: str) -> str:
        value = form.get(name, "")
        return value if isinstance(value, str) else ""

    return check_row(
        text("question"),
        text("answer"),
        _lines(text("similar")),
        _tags(text("tags")),
        text("answer_en"),
    )


def _form_values(form: Any) -> dict[str, str]:
    names = ("question", "answer", "answer_en", "similar", "tags")
    return {n: v if isinstance(v := form.get(n, ""), str) else "" for n in names}


def _entry_values(entry: Any) -> dict[str, str]:
    return {
        "question": entry.question,
        "answer": entry.answer,
        "answer_en": entry.answer_en,
        "similar": "\n".join(entry.similar),
        "tags": ", ".join(entry.tags),
    }


def _local(moment: datetime | None, tz: str) -> str:
    return "" if moment is None else moment.astimezone(zone(tz)).strftime("%Y-%m-%d %H:%M")


# ------------------------------------------------------------------------------ the list


@router.get("/admin/kb")
def pick(request: Request, ctx: ContextDep, principal: KbReaderDep, q: str = "") -> Response:
    """A licensee's admin goes straight to its own; licensor staff choose a licensee."""
    if principal.licensee_id is not None:
        return RedirectResponse(_base(principal.licensee_id), 303)
    needle = q.strip().casefold()

    def rows(session: Any) -> list[tuple[Licensee, int]]:
        counts = dict(
            session.exec(
                select(KbEntryRecord.licensee_id, func.count()).group_by(KbEntryRecord.licensee_id)
            ).all()
        )
        licensees = session.exec(select(Licensee).order_by(Licensee.name)).all()
        return [
            (lic, counts.get(lic.id, 0))
            for lic in licensees
            if not needle or needle in lic.name.casefold() or needle in lic.id
        ][:200]

    return render(request, "kb_pick.html", {"rows": ctx.db.read(rows), "q": q})


@router.get("/admin/kb/{licensee_id}")
def entries(
    request: Request,
    ctx: ContextDep,
    principal: KbReaderDep,
    licensee_id: str,
    q: str = "",
    page: int = 1,
    done: str = "",
) -> Response:
    licensee = licensee_for(ctx.db, principal, licensee_id)
    page = max(1, page)
    listing = ctx.db.read(
        lambda s: editing.search_entries(s, licensee_id, q, (page - 1) * PER_PAGE, PER_PAGE)
    )
    pages = max(1, math.ceil(listing.total / PER_PAGE))
    return render(
        request,
        "kb_list.html",
        {
            "licensee": licensee,
            "base": _base(licensee_id),
            "tab": "entries",
            "listing": listing,
            "q": q,
            "page": page,
            "pages": pages,
            "done": DONE.get(done, ""),
        },
    )


# ------------------------------------------------------------------------------ one entry


def _entry_page(
    request: Request,
    licensee: Licensee,
    values: dict[str, str],
    entry_id: str | None,
    error: str = "",
    status: int = 200,
    done: str = "",
) -> Response:
    return render(
        request,
        "kb_entry.html",
        {
            "licensee": licensee,
            "base": _base(licensee.id),
            "tab": "entries",
            "values": values,
            "entry_id": entry_id,
            "error": error,
            "done": DONE.get(done, ""),
        },
        status=status,
    )


@router.get("/admin/kb/{licensee_id}/new")
def new_entry(
    request: Request, ctx: ContextDep, principal: KbWriterDep, licensee_id: str, question: str = ""
) -> Response:
    licensee = licensee_for(ctx.db, principal, licensee_id)
    values = {"question": question[:500], "answer": "", "answer_en": "", "similar": "", "tags": ""}
    return _entry_page(request, licensee, values, None)


@router.post("/admin/kb/{licensee_id}/new")
async def create_entry(
    request: Request, ctx: ContextDep, principal: KbWriterDep, licensee_id: str
) -> Response:
    licensee = licensee_for(ctx.db, principal, licensee_id)
    form = await request.form()
    try:
        kb.add_entry(ctx.db, principal, licensee_id, _form_row(form))
    except (InvalidInput, Conflict) as exc:
        return _entry_page(
            request, licensee, _form_values(form), None, error_text(exc, request.state.lang), 400
        )
    return RedirectResponse(f"{_base(licensee_id)}?done=saved", 303)


@router.get("/admin/kb/{licensee_id}/entries/{entry_id}")
def edit_entry(
    request: Request,
    ctx: ContextDep,
    principal: KbReaderDep,
    licensee_id: str,
    entry_id: str,
    done: str = "",
) -> Response:
    licensee = licensee_for(ctx.db, principal, licensee_id)
    try:
        entry = ctx.db.read(lambda s: editing.get_entry(s, licensee_id, entry_id))
    except NotFound:
        raise HTTPException(404, "no such entry") from None
    return _entry_page(request, licensee, _entry_values(entry), entry_id, done=done)


@router.post("/admin/kb/{licensee_id}/entries/{entry_id}")
async def update_entry(
    request: Request, ctx: ContextDep, principal: KbWriterDep, licensee_id: str, entry_id: str
) -> Response:
    licensee = licensee_for(ctx.db, principal, licensee_id)
    form = await request.form()
    try:
        kb.update_entry(ctx.db, principal, licensee_id, entry_id, _form_row(form))
    except NotFound:
        raise HTTPException(404, "no such entry") from None
    except (InvalidInput, Conflict) as exc:
        return _entry_page(
            request,
            licensee,
            _form_values(form),
            entry_id,
            error_text(exc, request.state.lang),
            400,
        )
    return RedirectResponse(f"{_base(licensee_id)}/entries/{entry_id}?done=saved", 303)


@router.post("/admin/kb/{licensee_id}/entries/{entry_id}/delete")
def delete_entry(
    ctx: ContextDep, principal: KbWriterDep, licensee_id: str, entry_id: str
) -> Response:
    licensee_for(ctx.db, principal, licensee_id)
    try:
        kb.delete_entry(ctx.db, principal, licensee_id, entry_id)
    except NotFound:
        raise HTTPException(404, "no such entry") from None
    return RedirectResponse(f"{_base(licensee_id)}?done=deleted", 303)


# ------------------------------------------------------------------------------ files


def _import_page(request: Request, licensee: Licensee, **values: Any) -> Response:
    status = values.pop("status", 200)
    context = {
        "licensee": licensee,
        "base": _base(licensee.id),
        "tab": "import",
        "formats": FORMATS,
        "result": None,
        "rejected": [],
        "error": "",
        **values,
    }
    return render(request, "kb_import.html", context, status=status)


@router.get("/admin/kb/{licensee_id}/import")
def import_form(
    request: Request, ctx: ContextDep, principal: KbReaderDep, licensee_id: str
) -> Response:
    return _import_page(request, licensee_for(ctx.db, principal, licensee_id))


@router.post("/admin/kb/{licensee_id}/import")
async def import_file(
    request: Request,
    ctx: ContextDep,
    principal: KbWriterDep,
    licensee_id: str,
    # Declared (not read from request.form()) so that FastAPI closes the upload's spooled file
    # whatever the outcome, a refusal by a dependency included.
    file: Annotated[UploadFile | None, File()] = None,
    replace_all: Annotated[str, Form(alias="replace")] = "",
    skip: Annotated[str, Form(alias="skip_bad")] = "",
) -> Response:
    """Import an uploaded file: all of it or nothing, as ``kefu kb import`` does."""
    licensee = licensee_for(ctx.db, principal, licensee_id)
    upload = file
    replace = replace_all == "on"
    skip_bad = skip == "on"
    if upload is None or not upload.filename:
        return _import_page(request, licensee, error="kb.file", status=400)
    data = await upload.read(MAX_UPLOAD_BYTES + 1)
    try:
        if len(data) > MAX_UPLOAD_BYTES:
            raise KbFileError(
                f"The file is larger than {MAX_UPLOAD_BYTES // 1024 // 1024} MB.",
                code="kb.file_too_large",
                limit=MAX_UPLOAD_BYTES // 1024 // 1024,
            )
        suffix = upload.filename.rsplit(".", 1)[-1] if "." in upload.filename else ""
        parsed = read_kb_bytes(data, suffix)
    except KbFileError as exc:
        return _import_page(
            request, licensee, file_error=error_text(exc, request.state.lang), status=400
        )
    lang = request.state.lang
    rejected = [(r.line, error_text(several(r.problems), lang)) for r in parsed.rejected]
    if rejected and not skip_bad:
        return _import_page(request, licensee, rejected=rejected, status=400)
    counts = kb.import_file(
        ctx.db,
        principal,
        licensee_id,
        [p.row for p in parsed.rows],
        replace=replace,
        rejected=len(rejected),
        source={"file": upload.filename},
    )
    return _import_page(request, licensee, result=counts, rejected=rejected)


@router.get("/admin/kb/{licensee_id}/export.{fmt}")
def export_file(ctx: ContextDep, principal: KbReaderDep, licensee_id: str, fmt: str) -> Response:
    licensee_for(ctx.db, principal, licensee_id)
    if fmt not in FORMATS:
        raise HTTPException(404, "no such format")
    data = write_kb_bytes(ctx.db.read(lambda s: load_entries(s, licensee_id)), fmt)
    name = f"kb-{licensee_id}.{fmt}"
    return Response(
        data,
        media_type=MEDIA[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


# ------------------------------------------------------------------------------ hit test


def hit_tester(ctx: Any) -> HitTester | None:
    tester: HitTester | None = ctx.hooks.get("hit_test")
    return tester


@router.get("/admin/kb/{licensee_id}/hit-test")
async def hit_test(
    request: Request, ctx: ContextDep, principal: KbReaderDep, licensee_id: str, q: str = ""
) -> Response:
    licensee = licensee_for(ctx.db, principal, licensee_id)
    tester = hit_tester(ctx)
    result: HitTestResult | None = None
    error = ""
    if q.strip() and tester is not None:
        locale = "zh-CN" if request.state.lang == "zh" else "en"
        try:
            result = await tester(licensee_id, q, locale)
        except InvalidInput as exc:
            error = error_text(exc, request.state.lang)
    answer_entry = None
    if result is not None and result.answer_entry_id is not None:
        answer_entry = next(
            (r for r in result.ranked if r.entry_id == result.answer_entry_id), None
        )
    return render(
        request,
        "kb_hit_test.html",
        {
            "licensee": licensee,
            "base": _base(licensee_id),
            "tab": "hit_test",
            "q": q,
            "result": result,
            "answer_entry": answer_entry,
            "available": tester is not None,
            "error": error,
        },
        status=400 if error else 200,
    )


# ------------------------------------------------------------------------------ unanswered


@router.get("/admin/kb/{licensee_id}/unanswered")
def unanswered(
    request: Request, ctx: ContextDep, principal: KbReaderDep, licensee_id: str, done: str = ""
) -> Response:
    licensee = licensee_for(ctx.db, principal, licensee_id)
    now = utcnow()
    groups = ctx.db.read(lambda s: unanswered_questions(s, licensee_id, now))
    choices = ctx.db.read(lambda s: load_entries(s, licensee_id))
    return render(
        request,
        "kb_unanswered.html",
        {
            "licensee": licensee,
            "base": _base(licensee_id),
            "tab": "unanswered",
            "groups": groups[:200],
            "choices": choices,
            "days": DAYS,
            "local": lambda m: _local(m, principal.timezone),
            "done": DONE.get(done, ""),
        },
    )


@router.post("/admin/kb/{licensee_id}/unanswered/teach")
async def teach(
    request: Request, ctx: ContextDep, principal: KbWriterDep, licensee_id: str
) -> Response:
    """Make an unanswered question a similar phrasing of an entry."""
    licensee_for(ctx.db, principal, licensee_id)
    form = await request.form()
    phrasing, entry_id = form.get("phrasing", ""), form.get("entry_id", "")
    if not isinstance(phrasing, str) or not isinstance(entry_id, str) or not entry_id:
        raise InvalidInput("choose an entry", code="kb.choose_entry")
    try:
        kb.teach(ctx.db, principal, licensee_id, entry_id, phrasing)
    except NotFound:
        raise HTTPException(404, "no such entry") from None
    except KefuError as exc:
        raise InvalidInput(str(exc), code=exc.code, **exc.values) from None
    return RedirectResponse(f"{_base(licensee_id)}/unanswered?done=taught", 303)
