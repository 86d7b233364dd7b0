"""Alembic environment of the reporting service (API keys)."""

from services.reporting.models import ReportingBase
from shared.migration_env import run

run(ReportingBase.metadata)
