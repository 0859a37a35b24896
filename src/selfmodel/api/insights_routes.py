"""Proof of value over HTTP: ``GET /v1/insights`` and ``POST /v1/outcomes``.

Both are per tenant: the tenant comes from the API key, and nothing of another tenant is read
or written. Outcomes are the app's own signals about a user (``task_completed``,
``converted``, a satisfaction score) that insights compares across the holdout's arms.

An outcome for a user of a ``consent: required`` tenant who has not opted in is accepted but
not stored (``recorded: false``): such a user is not observed, and an outcome is an
observation made by the app.
"""

from __future__ import annotations

import math
import time
import unicodedata
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from selfmodel.api.bodies import parse_object, read_body, require_string
from selfmodel.api.user_ids import checked_user_id
from selfmodel.config import Tenant
from selfmodel.errors import InvalidRequest, StoreUnavailable
from selfmodel.insights_report import collect_insights, insights_json, iso
from selfmodel.services import Services
from selfmodel.store.base import StoreError

router = APIRouter()

MAX_OUTCOME_BODY = 16 * 1024
MAX_NAME = 64
MAX_FUTURE = 86_400.0  # an outcome dated later than a day from now is a clock or unit bug


@router.get("/v1/insights")
async def get_insights(request: Request) -> JSONResponse:
    """The tenant's insights; ``?since=`` (ISO 8601 or UNIX seconds) narrows requests and
    outcomes to those made since then."""
    services, tenant = _caller(request)
    raw = request.query_params.get("since")
    since = parse_time(raw, "since") if raw is not None else 0.0
    try:
        result = await collect_insights(services.store, tenant, since=since, now=time.time())
    except StoreError as exc:
        raise StoreUnavailable("The self-model store is unavailable; try again.") from exc
    return JSONResponse(insights_json(result))


@router.post("/v1/outcomes", status_code=202)
async def post_outcome(request: Request) -> JSONResponse:
    """Record one app outcome ``{user_id, name, value, at?}`` for the holdout comparison."""
    services, tenant = _caller(request)
    body = parse_object(await read_body(request, MAX_OUTCOME_BODY))
    now = time.time()
    user_id = checked_user_id(require_string(body, "user_id"))
    name = check_text(body, "name", MAX_NAME)
    value = check_value(body)
    at = parse_time(body["at"], "at") if body.get("at") is not None else now
    if at > now + MAX_FUTURE:
        raise InvalidRequest("Invalid value for 'at': it is more than a day in the future.",
                             param="at")
    recorded = await _record(services, tenant, user_id, name, value, at)
    return JSONResponse(
        {"object": "outcome", "user_id": user_id, "name": name, "value": value,
         "at": iso(at), "recorded": recorded},
        status_code=202,
    )


def _caller(request: Request) -> tuple[Services, Tenant]:
    services: Services = request.app.state.services
    return services, services.directory.authenticate(request.headers)


async def _record(services: Services, tenant: Tenant, user_id: str, name: str, value: float,
                  at: float) -> bool:
    """Store the outcome; False (not stored) when the tenant needs consent the user has not
    given."""
    store = services.store
    try:
        if tenant.policy.consent == "required" and not await store.get_consent(
            tenant.name, user_id
        ):
            return False
        await store.add_outcome(tenant.name, user_id, name, value, at)
    except StoreError as exc:
        raise StoreUnavailable("The self-model store is unavailable; the outcome was not "
                               "recorded. Try again.") from exc
    return True


def check_text(body: dict[str, Any], field: str, limit: int) -> str:
    """A required string of 1..``limit`` characters with no control characters."""
    value = require_string(body, field)
    if len(value) > limit:
        raise InvalidRequest(f"Invalid value for '{field}': longer than {limit} characters.",
                             param=field)
    if any(unicodedata.category(char) in ("Cc", "Cs") for char in value):
        raise InvalidRequest(f"Invalid value for '{field}': it contains a control character.",
                             param=field)
    return value


def check_value(body: dict[str, Any]) -> float:
    """A finite JSON number (booleans are refused: send 1 or 0)."""
    value = body.get("value")
    if value is None:
        raise InvalidRequest("Missing required parameter: 'value'.", param="value")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequest("Invalid type for 'value': expected a number.", param="value")
    number = _finite(value)
    if number is None:
        raise InvalidRequest("Invalid value for 'value': expected a finite number.",
                             param="value")
    return number


def parse_time(value: object, field: str) -> float:
    """UNIX seconds (a number or a numeric string), or an ISO 8601 timestamp (UTC when it
    names no offset)."""
    number: float | None = None
    if isinstance(value, str):
        number = _finite(value) if _numeric(value) else _from_iso(value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number = _finite(value)
    if number is None or number < 0:
        raise InvalidRequest(f"Invalid value for '{field}': expected an ISO 8601 timestamp "
                             "or UNIX seconds.", param=field)
    return number


def _finite(value: int | float | str) -> float | None:
    try:
        number = float(value)
    except (OverflowError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _from_iso(text: str) -> float | None:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
