"""The provider adapter interface: verify → parse → normalise (→ fetch, for envelope-only webhooks).

Every webhook provider is one small ``ProviderAdapter``:

* ``scheme`` and ``secret(settings)`` feed the one signature verifier (``webhooks/signatures.py``);
* ``parse`` turns the raw body into the provider's document (JSON or a form), or raises ``PayloadRejected``;
* ``normalise`` maps that document onto ``Normalised`` records — feedback in the generic format
  (``FeedbackCreate``), CRM ``CustomerEvent``s, and/or ``FetchRequest``s when the webhook is only an
  envelope whose content lives behind the provider's API;
* ``fetch`` (envelope providers only) gets that content through a ``ProviderApi`` and returns feedback.

Adapters hold no state and do no I/O except in ``fetch``; the pipeline stores what they return.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import wraps
from typing import Any, ClassVar, ParamSpec, TypeVar
from urllib.parse import parse_qsl

from pydantic import SecretStr, ValidationError
from pydantic_core import PydanticCustomError

from services.ingest.feedback.schemas import FeedbackCreate, normalised_email
from services.ingest.intake.schemas import FetchRequest
from services.ingest.provider_api import ProviderApi
from services.ingest.settings import IngestSettings
from services.ingest.webhooks.signatures import SignatureScheme
from shared.contracts import CustomerEvent

P = ParamSpec("P")
R = TypeVar("R")


class PayloadRejected(Exception):
    """The body is signed but cannot be understood; ``reason`` is a machine-readable code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass
class Normalised:
    """What one webhook call amounts to."""

    feedback: list[FeedbackCreate] = field(default_factory=list)
    customer_events: list[CustomerEvent] = field(default_factory=list)
    fetches: list[FetchRequest] = field(default_factory=list)
    ignored: str | None = None
    """Why nothing was taken from the call (an event type we do not ingest), when that is the case."""


SHAPE_ERRORS = (AttributeError, KeyError, IndexError, TypeError, ValueError)
"""What navigating an untrusted document raises when it is not the documented shape (a list where an object
was expected, a missing key, an id that is itself an object ...)."""


@contextmanager
def refused_unless_shaped(what: str) -> Iterator[None]:
    """Turn a shape error while mapping an untrusted document into ``PayloadRejected('unexpected_shape')``.

    Mappers read provider documents with plain dict navigation; this one boundary makes any document they
    cannot navigate a refusal with a reason (a 4xx, a parked fetch, a poll error) instead of a crash.
    """
    try:
        yield
    except PayloadRejected:
        raise
    except SHAPE_ERRORS as exc:
        raise PayloadRejected("unexpected_shape",
                              f"{what} does not have the documented shape ({type(exc).__name__}: {exc})"[:500]) from exc


def shaped(what: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator: the function maps an untrusted document, behind ``refused_unless_shaped(what)``."""

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        @wraps(function)
        def mapped(*args: P.args, **kwargs: P.kwargs) -> R:
            with refused_unless_shaped(what):
                return function(*args, **kwargs)

        return mapped

    return decorate


class ProviderAdapter:
    """Base of every webhook adapter; subclasses set ``name`` and ``scheme`` and override what they need."""

    name: ClassVar[str]
    scheme: ClassVar[SignatureScheme]
    docs: ClassVar[str] = ""

    def secret(self, settings: IngestSettings) -> bytes | None:
        """The verification key, or None when this provider is not configured."""
        raise NotImplementedError

    def parse(self, body: bytes, content_type: str) -> Any:
        """The provider's document; JSON by default."""
        return parse_json(body)

    def normalise(self, payload: Any, settings: IngestSettings) -> Normalised:
        """Map the provider's document onto normalised records."""
        raise NotImplementedError

    def read(self, body: bytes, content_type: str, settings: IngestSettings) -> Normalised:
        """``parse`` then ``normalise``: normalised records, or ``PayloadRejected`` with the reason."""
        with refused_unless_shaped(f"the {self.name} webhook body"):
            return self.normalise(self.parse(body, content_type), settings)

    def fetch(self, api: ProviderApi, envelope: dict[str, Any], settings: IngestSettings) -> list[FeedbackCreate]:
        """Get the content an envelope points at (envelope providers only)."""
        raise NotImplementedError(f"{self.name} webhooks carry their content")


# -- helpers adapters share ----------------------------------------------------------------------------------


def as_object(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one (optional parts of a provider document)."""
    return value if isinstance(value, dict) else {}


def secret_bytes(value: SecretStr | None) -> bytes | None:
    """A configured secret as bytes, or None."""
    if value is None or not value.get_secret_value():
        return None
    return value.get_secret_value().encode("utf-8")


def parse_json(body: bytes) -> Any:
    """The body as JSON, or ``PayloadRejected('invalid_json')``."""
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadRejected("invalid_json", f"the body is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise PayloadRejected("json_too_deep", "the JSON body is nested too deeply") from exc


def parse_form(body: bytes) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body as a dict (last value wins)."""
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
    except UnicodeDecodeError as exc:
        raise PayloadRejected("invalid_form", "the form body is not UTF-8") from exc


def require_mapping(value: Any, what: str) -> Mapping[str, Any]:
    """``value`` when it is a JSON object, else ``PayloadRejected``."""
    if not isinstance(value, Mapping):
        raise PayloadRejected("unexpected_shape", f"{what} must be a JSON object")
    return value


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 string, Unix seconds or milliseconds as an aware UTC datetime; None when absent or unreadable."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, int | float) or (isinstance(value, str) and value.strip().lstrip("-").isdigit()):
            number = float(value)
            return datetime.fromtimestamp(number / 1000 if number > 10_000_000_000 else number, UTC)
        text = str(value).strip().replace("Z", "+00:00")
        if " " in text and "T" not in text:
            text = text.replace(" ", "T", 1)
        parsed = datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError):
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def build_feedback(doc: dict[str, Any], *, where: str) -> FeedbackCreate:
    """Validate one normalised record; a provider document that maps onto an invalid record is rejected."""
    try:
        return FeedbackCreate.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        field_name = ".".join(str(p) for p in first.get("loc", ())) or "item"
        raise PayloadRejected("unmappable", f"{where}: {field_name}: {first.get('msg')}") from exc


def score_kind(settings: IngestSettings, provider: str, *ids: str | None) -> str | None:
    """The score a question feeds, when ``LP_SCORE_FIELDS`` names it (by id or ref)."""
    fields = settings.score_fields.get(provider, {})
    for question_id in ids:
        if question_id and question_id in fields:
            return fields[question_id]
    return None


def score_value(kind: str, raw: Any) -> int | float | None:
    """A raw answer as the value of a score kind, or None when it is not a number on that scale."""
    try:
        number = float(raw)
    except (TypeError, ValueError):
        return None
    bounds = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7), "rating": (0, 5)}[kind]
    if not bounds[0] <= number <= bounds[1]:
        return None
    return number if kind == "rating" else int(number)


def survey_items(
    *,
    provider: str,
    response_id: str,
    texts: Sequence[tuple[str, str, dict[str, Any]]],
    scores: dict[str, Any],
    customer: dict[str, Any],
    occurred_at: datetime | None,
    metadata: dict[str, Any],
    source: str = "survey",
) -> list[FeedbackCreate]:
    """One item per free-text answer (``<response>:<question>``), the response's scores on the first one;
    a score-only item (``<response>``) when the response has scores but no text."""
    items: list[FeedbackCreate] = []
    when = occurred_at.isoformat() if occurred_at else None
    seen: dict[str, int] = {}
    for n, (question_id, text, question_meta) in enumerate(texts):
        seen[question_id] = seen.get(question_id, 0) + 1
        answer_key = question_id if seen[question_id] == 1 else f"{question_id}.{seen[question_id]}"
        items.append(build_feedback({
            "provider": provider, "source": source, "kind": "aided", "external_id": f"{response_id}:{answer_key}",
            "text": text[:20_000], "customer": customer, "scores": scores if n == 0 else {}, "occurred_at": when,
            "metadata": {**metadata, **question_meta},
        }, where=f"{provider} response {response_id} question {question_id}"))
    if not items and any(v is not None for v in scores.values()):
        items.append(build_feedback({
            "provider": provider, "source": source, "kind": "aided", "external_id": response_id, "text": "",
            "customer": customer, "scores": scores, "occurred_at": when, "metadata": metadata,
        }, where=f"{provider} response {response_id}"))
    return items


def customer_ref(*, id: Any = None, email: Any = None, handle: Any = None) -> dict[str, Any]:
    """A customer document with only the identifiers that are present (an unusable email is dropped)."""
    doc: dict[str, Any] = {}
    if id not in (None, ""):
        doc["id"] = str(id)[:200]
    if isinstance(email, str) and email.strip():
        try:
            doc["email"] = normalised_email(email.strip())
        except (PydanticCustomError, ValueError):
            pass  # not an address we can key a customer on; the raw value stays in the metadata
    if handle not in (None, ""):
        doc["handle"] = str(handle)[:200]
    return doc
