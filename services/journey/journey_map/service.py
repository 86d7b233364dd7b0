"""Owning the journey map: versions kept, a new version published on ``lp.journey.map.v1``.

The map in force is the highest stored version. At start the service stores
the configured YAML file as a version when it is newer than what is stored
(maps as code); ``POST /v1/journey-map`` publishes a new version (admin key).
Each new version is announced on the bus, where the NLP service picks it up
without a restart.
"""

from __future__ import annotations

import logging
import uuid

from sqlalchemy.orm import Session

from services.journey.journey_map.repository import JourneyMapRepository
from services.journey.models import JourneyMapVersion, JourneyOutbox
from shared.bus import OutgoingMessage
from shared.contracts import CONTRACT_BY_TOPIC, JOURNEY_MAP, CloudEvent, JourneyMap, utcnow
from shared.http import ServiceError
from shared.outbox import stage_messages

log = logging.getLogger(__name__)

SOURCE = "/listening-path/journey"
_NS = uuid.UUID("c1b7a0e2-4d3f-4e59-a8b6-2f0d9e1c7a35")


class VersionConflict(ServiceError):
    """The new map's version is not above the one in force."""

    status_code = 409
    code = "version_conflict"


def current(session: Session) -> JourneyMap | None:
    """The map in force, or None before any was stored."""
    row = JourneyMapRepository(session).latest()
    return JourneyMap.model_validate(row.document) if row else None


def publish(session: Session, journey_map: JourneyMap, *, by: str | None, announce: bool = True) -> JourneyMap:
    """Store ``journey_map`` as the new version and stage its announcement; raises ``VersionConflict``."""
    repo = JourneyMapRepository(session)
    latest = repo.latest()
    if latest is not None and journey_map.version <= latest.version:
        raise VersionConflict(
            f"version {journey_map.version} is not above the version in force ({latest.version})",
            details=[{"field": "version", "reason": f"must be greater than {latest.version}"}],
        )
    repo.add(JourneyMapVersion(version=journey_map.version, company=journey_map.company,
                               document=journey_map.model_dump(mode="json"), published_at=utcnow(), published_by=by))
    if announce:
        announce_map(session, journey_map)
    log.info("journey map published", extra={"version": journey_map.version, "by": by})
    return journey_map


def announce_map(session: Session, journey_map: JourneyMap) -> None:
    """Stage the map's announcement on ``lp.journey.map.v1`` (its id is stable per version)."""
    event_id = str(uuid.uuid5(_NS, f"{journey_map.company}/{journey_map.version}"))
    event = CloudEvent[JourneyMap](id=event_id, source=SOURCE, type=CONTRACT_BY_TOPIC[JOURNEY_MAP].event_type,
                                   subject=str(journey_map.version), data=journey_map)
    stage_messages(session, JourneyOutbox, [OutgoingMessage(JOURNEY_MAP, journey_map.company, event.to_bytes())],
                   [event_id])


def adopt_configured(session: Session, configured: JourneyMap) -> JourneyMap:
    """At start: store the configured map if it is newer; return the map in force (announced again)."""
    in_force = current(session)
    if in_force is None or configured.version > in_force.version:
        return publish(session, configured, by="configuration")
    announce_map(session, in_force)  # the bundled broker forgets; say it again so consumers starting now hear it
    return in_force
