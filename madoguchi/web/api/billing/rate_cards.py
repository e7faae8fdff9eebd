"""``/api/v1/rate-cards``: the versioned prices messages are costed by (admins write)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field

from madoguchi.domain.pricing import from_micros, to_micros
from madoguchi.runtime import Runtime
from madoguchi.services.access.tokens import Principal
from madoguchi.services.audit.record import Target, record
from madoguchi.services.billing import rate_cards
from madoguchi.services.billing.rate_sheet import RateSheetInvalid, parse_rate_sheet
from madoguchi.store.models import RateCard
from madoguchi.web.deps import admin_only, get_runtime, supervisor_or_admin

router = APIRouter(prefix="/api/v1", tags=["billing"])

MAX_SHEET_BYTES = 2_000_000


class RateOut(BaseModel):
    market: str = Field(description="ISO 3166 alpha-2 code, or * for every other market")
    category: str = Field(
        description="marketing | utility | authentication | authentication_international | service"
    )
    tier_from: int = Field(description="The month's volume from which this rate applies")
    rate: str = Field(description="Per message, in the card's currency (decimal string)")


class RateCardOut(BaseModel):
    id: int
    name: str
    currency: str
    effective_from: datetime
    source: str
    in_force: bool = Field(description="The card pricing messages sent now")
    created_at: datetime
    rates: list[RateOut] | None = None


class RateIn(BaseModel):
    market: str
    category: str
    rate: str = Field(description='Decimal string, e.g. "0.0250"')
    tier_from: int = Field(0, ge=0)


class RateCardIn(BaseModel):
    name: str
    currency: str = Field(description="ISO 4217, e.g. USD")
    effective_from: datetime | None = Field(None, description="Default: now")
    rates: list[RateIn]


def card_error(exc: rate_cards.RateCardError) -> HTTPException:
    return HTTPException(exc.status, {"code": exc.code, "message": exc.message})


def _out(card: RateCard, in_force_id: int | None, rates=None) -> RateCardOut:
    return RateCardOut(
        id=card.id,
        name=card.name,
        currency=card.currency,
        effective_from=card.effective_from,
        source=card.source,
        in_force=card.id == in_force_id,
        created_at=card.created_at,
        rates=None
        if rates is None
        else [
            RateOut(
                market=r.market,
                category=r.category,
                tier_from=r.tier_from,
                rate=str(from_micros(r.micros)),
            )
            for r in rates
        ],
    )


async def _in_force_id(session, workspace_id: int) -> int | None:
    table = await rate_cards.table_in_force(session, workspace_id, datetime.now(UTC))
    return table.card_id if table else None


@router.get("/rate-cards", response_model=list[RateCardOut])
async def list_cards(
    principal: Principal = Depends(supervisor_or_admin),
    runtime: Runtime = Depends(get_runtime),
):
    """Every version of the prices, newest effective date first."""
    async with runtime.db.read() as session:
        current = await _in_force_id(session, principal.workspace_id)
        return [
            _out(c, current) for c in await rate_cards.list_cards(session, principal.workspace_id)
        ]


@router.get("/rate-cards/{card_id}", response_model=RateCardOut)
async def get_card(
    card_id: int,
    principal: Principal = Depends(supervisor_or_admin),
    runtime: Runtime = Depends(get_runtime),
):
    async with runtime.db.read() as session:
        card = await rate_cards.get_card(session, principal.workspace_id, card_id)
        if card is None:
            raise HTTPException(404, f"rate card {card_id} not found")
        current = await _in_force_id(session, principal.workspace_id)
        return _out(card, current, await rate_cards.card_rates(session, card.id))


def _micros(rate: RateIn, index: int) -> int:
    try:
        value = Decimal(rate.rate)
        if not value.is_finite():
            raise InvalidOperation
        return to_micros(value)
    except (InvalidOperation, ValueError):
        raise HTTPException(
            422,
            {
                "code": "invalid_rate",
                "message": f"rate {index + 1}: {rate.rate!r} is not a decimal with at most six "
                "places",
            },
        ) from None


def _summary(card: RateCard, rates) -> dict:
    """What the log keeps of a card: its name, currency, date and rates (sheets are small)."""
    return {
        "name": card.name,
        "currency": card.currency,
        "effective_from": card.effective_from.isoformat(),
        "rates": [
            f"{r.market} {r.category} from {r.tier_from}: {from_micros(r.micros)}" for r in rates
        ][:200],
    }


async def _create(runtime: Runtime, principal: Principal, **fields) -> RateCardOut:
    try:
        async with runtime.db.write() as session:
            card = await rate_cards.create_card(session, principal.workspace_id, **fields)
            card_id = card.id
            await record(
                session,
                principal,
                "rate_card.import" if fields.get("source") == "csv" else "rate_card.create",
                Target("rate_card", card.id, card.name),
                None,
                _summary(card, card.rates),
            )
    except rate_cards.RateCardError as exc:
        raise card_error(exc) from exc
    async with runtime.db.read() as session:
        card = await rate_cards.get_card(session, principal.workspace_id, card_id)
        current = await _in_force_id(session, principal.workspace_id)
        return _out(card, current, await rate_cards.card_rates(session, card_id))


@router.post("/rate-cards", response_model=RateCardOut, status_code=201)
async def create_card(
    body: RateCardIn,
    principal: Principal = Depends(admin_only),
    runtime: Runtime = Depends(get_runtime),
):
    """A new version of the prices, in force from ``effective_from`` (messages already
    priced keep their price). To change one rate, post the whole card with it changed."""
    rates = [
        rate_cards.RateIn(r.market, r.category, _micros(r, i), r.tier_from)
        for i, r in enumerate(body.rates)
    ]
    return await _create(
        runtime,
        principal,
        name=body.name,
        currency=body.currency,
        effective_from=body.effective_from or datetime.now(UTC),
        rates=rates,
    )


@router.post("/rate-cards/import", response_model=RateCardOut, status_code=201)
async def import_card(
    request: Request,
    name: str = Query(..., description="The card's name"),
    currency: str = Query(..., description="ISO 4217, e.g. USD"),
    effective_from: datetime | None = Query(None, description="Default: now"),
    principal: Principal = Depends(admin_only),
    runtime: Runtime = Depends(get_runtime),
):
    """A new card from a rate sheet sent as the request body (CSV; columns in
    docs/costs.md). Nothing is imported unless every row is right; the error lists the
    bad rows by line."""
    raw = await request.body()
    if len(raw) > MAX_SHEET_BYTES:
        raise HTTPException(
            413,
            {
                "code": "sheet_too_large",
                "message": f"a rate sheet may be at most {MAX_SHEET_BYTES} bytes",
            },
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPException(
            422, {"code": "invalid_sheet", "message": "the rate sheet must be UTF-8 text (CSV)"}
        ) from None
    try:
        currency = rate_cards.normal_currency(currency)
    except rate_cards.RateCardError as exc:
        raise card_error(exc) from exc
    try:
        rates = parse_rate_sheet(text, currency)
    except RateSheetInvalid as exc:
        raise HTTPException(
            422, {"code": "invalid_sheet", "message": str(exc), "errors": exc.errors}
        ) from exc
    return await _create(
        runtime,
        principal,
        name=name,
        currency=currency,
        effective_from=effective_from or datetime.now(UTC),
        rates=rates,
        source="csv",
    )


@router.delete("/rate-cards/{card_id}", status_code=204)
async def delete_card(
    card_id: int,
    principal: Principal = Depends(admin_only),
    runtime: Runtime = Depends(get_runtime),
):
    """Remove a card that has not come into force yet."""
    try:
        async with runtime.db.write() as session:
            card = await rate_cards.get_card(session, principal.workspace_id, card_id)
            before = None if card is None else {"name": card.name, "currency": card.currency}
            await rate_cards.delete_card(session, principal.workspace_id, card_id)
            await record(
                session,
                principal,
                "rate_card.delete",
                Target("rate_card", card_id, (before or {}).get("name")),
                before,
                None,
            )
    except rate_cards.RateCardError as exc:
        raise card_error(exc) from exc
    return Response(status_code=204)
