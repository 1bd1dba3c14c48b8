"""The JSON API's request and response bodies (they document the API in OpenAPI)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field


class LicenseeRow(BaseModel):
    id: str
    name: str
    status: str
    service_end: date
    month: str = Field(description="This month in the licensee's time zone, YYYY-MM")
    units: int = Field(description="Billable conversations started this month")


class LicenseeList(BaseModel):
    licensees: list[LicenseeRow]
    total: int
    page: int
    pages: int


class KeyRow(BaseModel):
    id: str
    kind: str
    key: str = Field(description="A site key in full; a secret key by its prefix only")
    created_at: datetime
    revoked: bool


class PriceRow(BaseModel):
    effective_from: date
    unit_price: str


class Billing(BaseModel):
    base_fee: str
    signed_on: date | None
    access_compensation_fee: str
    suspension_exception: str | None
    notice_date: date | None
    termination_date: date | None
    invoice_title: str
    tax_id: str
    invoice_address: str
    invoice_bank: str


class LicenseeDetail(BaseModel):
    id: str
    name: str
    status: str
    timezone: str
    service_start: date
    service_end: date
    opened_on: date | None
    idle_timeout_minutes: int
    month: str
    units: int
    unit_price: str | None = Field(None, description="Omitted for roles that see no billing")
    prices: list[PriceRow] = []
    billing: Billing | None = None
    origins: list[str]
    keys: list[KeyRow]
    embed: str | None = Field(None, description="The <script> line for the licensee's pages")


class LicenseeCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    origins: list[str] = Field(min_length=1, max_length=100)
    unit_price: str = "0.50"
    service_start: date | None = None
    service_end: date | None = None
    timezone: str = Field("Asia/Shanghai", max_length=64)
    idle_timeout_minutes: int | None = Field(None, ge=5, le=1440)
    base_fee: str | None = None
    signed_on: date | None = None


class LicenseeCreated(BaseModel):
    id: str
    site_key: str
    test_site_key: str
    secret_key: str = Field(description="Shown only in this response")
    base_fee_bill: str | None
    embed: str


class LicenseeUpdate(BaseModel):
    name: str | None = Field(None, max_length=200)
    timezone: str | None = Field(None, max_length=64)
    idle_timeout_minutes: int | None = Field(None, ge=5, le=1440)
    service_end: date | None = Field(None, description="A renewal: a later service end")
    opened_on: date | None = Field(None, description="A late opening: both dates move")


class PriceSet(BaseModel):
    unit_price: str
    effective_from: date


class BillingUpdate(BaseModel):
    access_compensation_fee: str | None = None
    invoice_title: str | None = Field(None, max_length=200)
    tax_id: str | None = Field(None, max_length=40)
    invoice_address: str | None = Field(None, max_length=300)
    invoice_bank: str | None = Field(None, max_length=300)


class BaseFee(BaseModel):
    amount: str
    signed_on: date


class ExceptionBody(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


class Termination(BaseModel):
    notice_date: date


class OriginBody(BaseModel):
    origin: str = Field(min_length=1, max_length=300)


class KeyCreate(BaseModel):
    kind: Literal["live", "test", "secret"]


class NewKey(BaseModel):
    key: str = Field(description="Shown only in this response")
    replaced: str | None = None


class Done(BaseModel):
    ok: bool = True
    detail: str = ""


class MaintenanceBody(BaseModel):
    starts_at: datetime = Field(description="ISO 8601 with an offset")
    ends_at: datetime
    text: str = Field("", max_length=500)
    licensee_id: str | None = None
    forced_reason: str | None = Field(
        None, max_length=500, description="Needed when it starts less than 24 hours ahead"
    )


class MaintenanceRow(BaseModel):
    id: str
    licensee_id: str | None
    starts_at: datetime
    ends_at: datetime
    text: str


class OutageBody(BaseModel):
    starts_at: datetime
    ends_at: datetime
    reason: str = Field(min_length=1, max_length=500)
    licensee_ids: list[str] | None = Field(None, description="None: every licensee")


class OutageRow(BaseModel):
    id: str
    starts_at: datetime
    ends_at: datetime
    reason: str
    all_licensees: bool
    days_added: dict[str, int]


class AuditRow(BaseModel):
    id: int
    at: datetime
    actor_email: str
    actor_role: str
    licensee_id: str | None
    action: str
    target: str
    before: dict[str, object] | None
    after: dict[str, object] | None


class TokenRow(BaseModel):
    id: str
    name: str
    token: str = Field(description="Its prefix only")
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool


class TokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)


class NewToken(BaseModel):
    id: str
    token: str = Field(description="Shown only in this response")
