"""Request and response shapes of the self-model API (DESIGN.md section 5).

Requests are validated here, and every problem becomes an ``InvalidRequest`` naming the field
(``param``), never FastAPI's 422 list. Responses render domain objects for people and apps:
times as ISO 8601, confidences computed for the moment of the request, rounded.
"""

from __future__ import annotations

import unicodedata
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, StrictBool, ValidationError, field_validator

from selfmodel.domain.confidence import alignment_score, confidence
from selfmodel.domain.models import (
    Belief,
    DecisionRecord,
    Evidence,
    Kind,
    Observation,
    ObservationType,
    SelfModel,
)
from selfmodel.domain.timefmt import iso, iso_or_none
from selfmodel.errors import InvalidRequest

MAX_USER_ID = 256
MAX_CONTENT = 32_000
MAX_FIELD = 200  # key, value, domain, context
MAX_STATEMENT = 500
DIGITS = 4  # confidences are rendered with this many decimals

M = TypeVar("M", bound=BaseModel)


# -- validation helpers ---------------------------------------------------------------------

def has_control(text: str) -> bool:
    return any(unicodedata.category(char) in ("Cc", "Cs") for char in text)


def check_id(value: object, param: str = "user_id") -> str:
    """A user or request id: 1..256 characters, no control characters (ids end up in store
    keys and logs)."""
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"Invalid value for '{param}': expected a non-empty string.",
                             param=param)
    if len(value) > MAX_USER_ID:
        raise InvalidRequest(f"Invalid value for '{param}': longer than {MAX_USER_ID} "
                             "characters.", param=param)
    if has_control(value):
        raise InvalidRequest(f"Invalid value for '{param}': it contains a control character.",
                             param=param)
    return value


def _short(value: str | None, limit: int = MAX_FIELD) -> str | None:
    """A trimmed optional text field of at most ``limit`` characters, no control characters."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    if len(value) > limit:
        raise ValueError(f"longer than {limit} characters")
    if has_control(value):
        raise ValueError("contains a control character")
    return value


def validated(model: type[M], body: dict[str, Any]) -> M:
    """``model`` built from ``body``, or a 400 naming the first bad field."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise _invalid(exc) from None


def _invalid(exc: ValidationError) -> InvalidRequest:
    first = exc.errors()[0]
    param = ".".join(str(part) for part in first["loc"]) or None
    if first["type"] == "missing":
        return InvalidRequest(f"Missing required parameter: '{param}'.", param=param)
    message = str(first["msg"]).removeprefix("Value error, ")
    return InvalidRequest(f"Invalid value for '{param}': {message}.", param=param)


# -- requests -------------------------------------------------------------------------------

class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")


class CreateIn(_Request):
    """``POST /v1/self-models``: ``context`` is free-form app data kept with the model."""

    user_id: str
    context: dict[str, Any] | str | None = None

    def context_dict(self) -> dict[str, object]:
        if isinstance(self.context, str):
            return {"description": self.context}
        return dict(self.context or {})


class ObservationIn(_Request):
    """``POST .../observations``: free text for the extractor, or a structured key/value."""

    type: ObservationType
    content: str
    context: str | None = None
    evidence: str | None = None
    key: str | None = None
    value: str | None = None
    kind: Kind | None = None
    domain: str | None = None

    @field_validator("content")
    @classmethod
    def _content(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        if len(value) > MAX_CONTENT:
            raise ValueError(f"longer than {MAX_CONTENT} characters")
        return value

    @field_validator("context", "key", "value", "domain")
    @classmethod
    def _fields(cls, value: str | None) -> str | None:
        return _short(value)

    @field_validator("evidence")
    @classmethod
    def _evidence(cls, value: str | None) -> str | None:
        return _short(value, MAX_CONTENT) if value is not None else None

    def check_pair(self) -> None:
        """A structured observation gives both ``key`` and ``value``, or neither."""
        for given, missing in (("key", "value"), ("value", "key")):
            if getattr(self, given) is not None and getattr(self, missing) is None:
                raise InvalidRequest(f"Missing required parameter: '{missing}' ('{given}' "
                                     f"was given; a structured observation needs both).",
                                     param=missing)


class PatchIn(_Request):
    """``PATCH .../beliefs/{id}``: the user confirms, rejects or rewrites a belief."""

    action: Literal["confirm", "reject", "edit"]
    value: str | None = None
    statement: str | None = None

    @field_validator("value")
    @classmethod
    def _value(cls, value: str | None) -> str | None:
        return _short(value)

    @field_validator("statement")
    @classmethod
    def _statement(cls, value: str | None) -> str | None:
        return _short(value, MAX_STATEMENT)

    def check_edit(self) -> None:
        if self.action == "edit" and self.value is None and self.statement is None:
            raise InvalidRequest("Missing required parameter: 'value' (an edit needs a new "
                                 "'value' or 'statement').", param="value")


class ConsentIn(_Request):
    """``PUT .../consent``: the app records the user's opt-in (true) or its withdrawal."""

    granted: StrictBool


# -- responses ------------------------------------------------------------------------------

def evidence_json(item: Evidence) -> dict[str, Any]:
    return {"observation_id": item.observation_id, "quote": item.quote,
            "polarity": item.polarity, "source": item.source.value, "weight": item.weight,
            "at": iso(item.at)}


def belief_json(belief: Belief, now: float) -> dict[str, Any]:
    """One belief as the API shows it, its confidence computed for ``now``."""
    return {
        "id": belief.id, "statement": belief.statement, "kind": belief.kind.value,
        "domain": belief.domain, "key": belief.key, "value": belief.value,
        "context": belief.context, "confidence": round(confidence(belief, now), DIGITS),
        "observations": belief.observations, "status": belief.status.value,
        "times_applied": belief.times_applied,
        "times_accepted": belief.times_accepted,
        "evidence": [evidence_json(item) for item in reversed(belief.evidence)],
        "first_seen": iso_or_none(belief.first_seen), "last_seen": iso_or_none(belief.last_seen),
    }


def model_json(model: SelfModel, beliefs: list[Belief], now: float) -> dict[str, Any]:
    """The model with the chosen beliefs, most confident first."""
    shown = sorted(((confidence(b, now), b) for b in beliefs), key=lambda pair: (-pair[0],
                                                                                 pair[1].id))
    return {
        "object": "self_model", "user_id": model.user_id,
        "alignment_score": round(alignment_score(model, now), DIGITS),
        "version": model.version, "context": model.context,
        "beliefs": [belief_json(belief, now) for _, belief in shown],
        "created_at": iso_or_none(model.created_at), "updated_at": iso_or_none(model.updated_at),
    }


def observation_json(observation: Observation) -> dict[str, Any]:
    body = observation.model_dump(mode="json", exclude={"tenant"})
    body["at"] = iso(observation.at)
    return body


def decision_json(record: DecisionRecord) -> dict[str, Any]:
    body = record.model_dump(mode="json", exclude={"tenant"})
    body["object"] = "decision"
    body["at"] = iso(record.at)
    return body
