"""Alembic environment of the ingest service."""

from services.ingest.models import IngestBase
from shared.migration_env import run

run(IngestBase.metadata)
