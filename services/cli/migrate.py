"""Schema migrations for one or all services."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from services.catalog import MIGRATIONS
from shared.db import upgrade
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)


def upgrade_schemas(settings: ServiceSettings, owners: Iterable[str] = tuple(MIGRATIONS)) -> None:
    """Bring each owner's schema to its newest revision."""
    for owner in owners:
        url = settings.database_url_for(owner)
        upgrade(owner, MIGRATIONS[owner], url)
        log.info("schema up to date", extra={"schema": owner})
