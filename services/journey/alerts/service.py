"""Alerts: the voices and numbers that need a person's attention, published on ``lp.journey.alerts.v1``.

Three rules, evaluated as each batch is applied:

* **high-value voice** — a detractor answer (NPS 0-6) or a strongly negative voice (sentiment ≤ -0.6) from a
  customer whose value is at least ``high_value_threshold``;
* **target crossed** — a priority experience's reliability metric over the trailing
  ``reliability_window_days`` (ending on the day of the newest item) moves from met to missed, or back;
* **negative spike** — a stage's negative count on a day reaches the spike threshold against the previous
  14 days of that stage (``metrics.negative_spike``: at least 5, and at least mean + 3 standard deviations).

Each alert has a key saying what it is about; it is raised once per key, with an id derived from the key.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.journey import metrics
from services.journey.models import AlertRecord, ExperienceStatus, JourneyOutbox
from services.journey.rollups.repository import RollupRepository
from shared.bus import OutgoingMessage
from shared.contracts import CONTRACT_BY_TOPIC, JOURNEY_ALERTS, AlertKind, CloudEvent, JourneyAlert, JourneyMap
from shared.outbox import stage_messages

SOURCE = "/listening-path/journey"
_NS = uuid.UUID("5d0e7a4c-93b1-4f6e-b8a2-1c9f0e6d2a47")


@dataclass(frozen=True)
class AlertPolicy:
    """Thresholds of the alert rules (from settings)."""

    high_value_threshold: float = 10_000.0
    reliability_window_days: int = 28


@dataclass(frozen=True)
class VoiceCandidate:
    """A stored voice the high-value rule looks at."""

    feedback_id: str
    customer_id: str
    customer_value: float | None
    nps: int | None
    sentiment_score: float
    stage: str | None
    occurred_at: datetime


def _day_end(day: date) -> datetime:
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)


def high_value_voices(candidates: Iterable[VoiceCandidate], policy: AlertPolicy) -> list[tuple[str, JourneyAlert]]:
    """Detractors and strongly negative voices of valuable customers."""
    out = []
    for c in candidates:
        if c.customer_value is None or c.customer_value < policy.high_value_threshold:
            continue
        detractor = c.nps is not None and metrics.nps_category(c.nps) is metrics.NpsCategory.DETRACTOR
        strongly_negative = c.sentiment_score <= metrics.STRONGLY_NEGATIVE
        if not (detractor or strongly_negative):
            continue
        why = f"NPS {c.nps}" if detractor else f"sentiment {c.sentiment_score:+.2f}"
        out.append((f"voice:{c.feedback_id}", JourneyAlert(
            alert_id="", kind=AlertKind.HIGH_VALUE_VOICE, severity="critical",
            title=f"Customer worth {c.customer_value:,.0f} is unhappy ({why})",
            stage=c.stage, customer_id=c.customer_id, feedback_id=c.feedback_id, customer_value=c.customer_value,
            occurred_at=c.occurred_at,
            evidence={"nps": c.nps, "sentiment_score": c.sentiment_score, "threshold": policy.high_value_threshold},
        )))
    return out


def target_crossings(session: Session, journey_map: JourneyMap, latest_days: Mapping[str, date],
                     policy: AlertPolicy) -> list[tuple[str, JourneyAlert]]:
    """Priority experiences whose status changed between met and missed."""
    rollups = RollupRepository(session)
    out = []
    for pe in journey_map.priority_experiences:
        day = latest_days.get(pe.id)
        if day is None or pe.metric not in metrics.METRICS:
            continue
        first = day - timedelta(days=policy.reliability_window_days - 1)
        result = metrics.reliability(pe.metric, rollups.experience_counts(pe.id, first, day), pe.target)
        stored = session.get(ExperienceStatus, pe.id)
        previous = stored.status if stored else metrics.Status.INSUFFICIENT_DATA.value
        if stored is None:
            stored = ExperienceStatus(experience_id=pe.id, status=result.status.value, value=result.value, as_of=day)
            session.add(stored)
        elif day >= stored.as_of:
            stored.status, stored.value, stored.as_of = result.status.value, result.value, day
        else:
            continue  # older data arriving late does not move the current status
        if result.status is metrics.Status.INSUFFICIENT_DATA or result.status.value == previous:
            continue
        missed = result.status is metrics.Status.MISSED
        if previous == metrics.Status.INSUFFICIENT_DATA.value and not missed:
            continue  # a target met from the start is not news
        verb = "missed" if missed else "is met again for"
        value = f"{result.value:.2f}" if result.value is not None else "n/a"
        out.append((f"target:{pe.id}:{day.isoformat()}:{result.status.value}", JourneyAlert(
            alert_id="", kind=AlertKind.TARGET_MISSED if missed else AlertKind.TARGET_MET,
            severity="warning" if missed else "info",
            title=f"{pe.name} {verb} its target: {pe.metric} {value} (target {pe.target})",
            stage=pe.stage, experience=pe.id, owner=pe.owner, occurred_at=_day_end(day),
            evidence={"metric": pe.metric, "value": result.value, "target": pe.target, "volume": result.volume,
                      "window_days": policy.reliability_window_days, "previous_status": previous},
        )))
    return out


def negative_spikes(session: Session, stage_days: Iterable[tuple[date, str]]) -> list[tuple[str, JourneyAlert]]:
    """Stage-days whose negative volume spiked against the stage's previous 14 days."""
    rollups = RollupRepository(session)
    out = []
    for day, stage in sorted(set(stage_days)):
        first = day - timedelta(days=metrics.SPIKE_BASELINE_DAYS)
        counts = rollups.stage_negatives(stage, first, day)
        previous = [counts.get(first + timedelta(days=i), 0) for i in range(metrics.SPIKE_BASELINE_DAYS)]
        spike = metrics.negative_spike(counts.get(day, 0), previous)
        if not spike.is_spike:
            continue
        out.append((f"spike:{stage}:{day.isoformat()}", JourneyAlert(
            alert_id="", kind=AlertKind.NEGATIVE_SPIKE, severity="warning",
            title=f"Negative voices about {stage} spiked: {spike.count} on {day} (usual {spike.baseline_mean:.1f})",
            stage=stage, occurred_at=_day_end(day),
            evidence={"count": spike.count, "baseline_mean": round(spike.baseline_mean, 3),
                      "baseline_std": round(spike.baseline_std, 3), "threshold": round(spike.threshold, 3),
                      "baseline_days": metrics.SPIKE_BASELINE_DAYS},
        )))
    return out


def raise_alerts(session: Session, alerts: Iterable[tuple[str, JourneyAlert]], *, publish: bool) -> list[JourneyAlert]:
    """Store each alert whose key is new and stage it for publication; returns the ones raised."""
    pending = dict(alerts)
    if not pending:
        return []
    existing = set(session.scalars(select(AlertRecord.key).where(AlertRecord.key.in_(list(pending)))))
    raised: list[JourneyAlert] = []
    for key, alert in sorted(pending.items()):
        if key in existing:
            continue
        alert_id = str(uuid.uuid5(_NS, key))
        final = alert.model_copy(update={"alert_id": alert_id})
        session.add(AlertRecord(alert_id=alert_id, key=key, kind=final.kind.value,
                                payload=final.model_dump(mode="json"), occurred_at=final.occurred_at))
        raised.append(final)
    if publish and raised:
        event_type = CONTRACT_BY_TOPIC[JOURNEY_ALERTS].event_type
        events = [CloudEvent[JourneyAlert](id=a.alert_id, source=SOURCE, type=event_type, subject=a.alert_id, data=a)
                  for a in raised]
        messages = [OutgoingMessage(JOURNEY_ALERTS, a.stage or a.customer_id, e.to_bytes())
                    for a, e in zip(raised, events, strict=True)]
        stage_messages(session, JourneyOutbox, messages, [a.alert_id for a in raised])
    return raised
