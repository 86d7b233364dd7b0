"""SQL of import checkpoints."""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.ingest.models import ImportCheckpoint


class CheckpointRepository:
    """How far each import got, read and written inside the caller's transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, import_id: str) -> ImportCheckpoint | None:
        """The checkpoint of one import."""
        return self.session.get(ImportCheckpoint, import_id)

    def save(self, checkpoint: ImportCheckpoint) -> None:
        """Insert or update a checkpoint."""
        self.session.merge(checkpoint)
        self.session.flush()

    def delete(self, import_id: str) -> None:
        """Forget an import (``--restart``)."""
        found = self.get(import_id)
        if found is not None:
            self.session.delete(found)
            self.session.flush()
