"""The one intake pipeline: every channel's normalised records are stored here, in one transaction.

Feedback goes to ``raw_feedback`` and customer events to ``raw_customer_events``, each with its outbox
message; envelopes that still need their content fetched go to ``pending_fetches``; and a request's
``Idempotency-Key`` is kept with the answer it got. Everything of one call commits or nothing does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from services.ingest.customers.service import accept_customer_events
from services.ingest.feedback.schemas import ItemOutcome
from services.ingest.feedback.service import accept_feedback
from services.ingest.intake.repository import IdempotencyRepository, PendingFetchRepository
from services.ingest.intake.schemas import Intake, IntakeResult, StoredResponse
from shared.contracts import utcnow

DEFAULT_IDEMPOTENCY_TTL_S = 86_400.0


def accept_intake(*, session: Session, units: Sequence[Intake],
                  idempotency_ttl_s: float = DEFAULT_IDEMPOTENCY_TTL_S) -> list[IntakeResult]:
    """Store every unit's records; one result per unit, in order. Only flushes: the caller commits.

    An ``Idempotency-Key`` answered less than ``idempotency_ttl_s`` ago is replayed; an older one counts as new.
    """
    results: list[IntakeResult] = [IntakeResult() for _ in units]
    fresh = _settle_idempotency(session, units, results, idempotency_ttl_s)

    feedback_of = [(i, item) for i in fresh for item in units[i].feedback]
    if feedback_of:
        outcomes = accept_feedback(
            session=session, items=[item for _, item in feedback_of],
            traceparent=[units[i].traceparent for i, _ in feedback_of],
        )
        for (i, _), outcome in zip(feedback_of, outcomes, strict=True):
            results[i].feedback.append(outcome)

    events_of = [(i, event) for i in fresh for event in units[i].customer_events]
    if events_of:
        outcomes = accept_customer_events(
            session=session, events=[e for _, e in events_of],
            traceparents=[units[i].traceparent for i, _ in events_of],
            originals=[e.metadata for _, e in events_of],
        )
        for (i, _), outcome in zip(events_of, outcomes, strict=True):
            results[i].customer_events.append(outcome)

    fetches_of = [(i, f) for i in fresh for f in units[i].fetches]
    if fetches_of:
        for (i, _), outcome in zip(fetches_of, _queue_fetches(session, units, fetches_of), strict=True):
            results[i].fetches.append(outcome)

    _keep_answers(session, units, results, fresh)
    return results


def _settle_idempotency(session: Session, units: Sequence[Intake], results: list[IntakeResult],
                        ttl_s: float) -> list[int]:
    """Mark units whose key was answered before (or earlier in this group); return the units to process."""
    keyed = [u.idempotency.key for u in units if u.idempotency is not None]
    stored = IdempotencyRepository(session).find(keyed, kept_since=utcnow() - timedelta(seconds=ttl_s))
    first_with_key: dict[str, int] = {}
    fresh: list[int] = []
    for i, unit in enumerate(units):
        idem = unit.idempotency
        if idem is not None:
            kept = stored.get(idem.key)
            if kept is not None:
                results[i].replayed = kept
                results[i].key_conflict = kept.request_hash != idem.request_hash
                continue
            if idem.key in first_with_key:
                # The same key twice in one group: the second is a retry racing the first; answer it after.
                continue
            first_with_key[idem.key] = i
        fresh.append(i)
    return fresh


def _keep_answers(session: Session, units: Sequence[Intake], results: list[IntakeResult], fresh: list[int]) -> None:
    rows: list[dict[str, Any]] = []
    answered: dict[str, tuple[str, int, dict[str, Any]]] = {}
    now = utcnow()
    for i in fresh:
        idem = units[i].idempotency
        if idem is None:
            continue
        status, body = idem.render(results[i])
        answered[idem.key] = (idem.request_hash, status, body)
        rows.append({"key": idem.key, "request_hash": idem.request_hash, "status_code": status, "response": body,
                     "created_at": now})
    IdempotencyRepository(session).add(rows)
    for i, unit in enumerate(units):
        idem = unit.idempotency
        if idem is None or i in fresh or results[i].replayed is not None:
            continue
        request_hash, status, body = answered[idem.key]
        results[i].replayed = StoredResponse(request_hash, status, body)
        results[i].key_conflict = request_hash != idem.request_hash


def _queue_fetches(session: Session, units: Sequence[Intake], fetches_of: list[tuple[int, Any]]) -> list[ItemOutcome]:
    repo = PendingFetchRepository(session)
    known = {k: str(v) for k, v in repo.existing_ids((f.provider, f.external_id) for _, f in fetches_of).items()}
    now = utcnow()
    outcomes: list[ItemOutcome] = []
    for i, fetch in fetches_of:
        key = (fetch.provider, fetch.external_id)
        if key in known:
            outcomes.append(ItemOutcome(id=f"fetch_{known[key]}", status="duplicate"))
            continue
        (new_id,) = repo.add([{
            "provider": fetch.provider, "external_id": fetch.external_id, "envelope": fetch.envelope,
            "traceparent": units[i].traceparent, "status": "pending", "attempts": 0, "next_attempt_at": now,
            "last_error": None, "created_at": now, "updated_at": now,
        }])
        known[key] = str(new_id)
        outcomes.append(ItemOutcome(id=f"fetch_{new_id}", status="accepted"))
    return outcomes
