"""Alembic environment of the journey service (the story store)."""

from services.journey.models import StoryBase
from shared.migration_env import run

run(StoryBase.metadata)
