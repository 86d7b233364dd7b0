"""Customer merges: list them, and undo one that was wrong (admin key)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy import select

from services.journey.customers.service import refresh_customers
from services.journey.deps import SessionDep
from services.journey.identity.repository import IdentityRepository
from services.journey.identity.service import undo_merge
from services.journey.models import CustomerMerge
from shared.http import AdminKeyRequired, ApiKeyRequired

router = APIRouter(prefix="/v1/customer-merges", tags=["identity"])


class MergeOut(BaseModel):
    """One recorded merge."""

    id: int
    survivor_id: str
    merged_id: str
    identities_moved: int
    reason: str
    merged_at: datetime
    undone_at: datetime | None


def _out(m: CustomerMerge) -> MergeOut:
    return MergeOut(id=m.id, survivor_id=m.survivor_id, merged_id=m.merged_id, identities_moved=len(m.identities),
                    reason=m.reason, merged_at=m.merged_at, undone_at=m.undone_at)


@router.get("", response_model=list[MergeOut], dependencies=[ApiKeyRequired], summary="Recorded merges, newest first")
def list_merges(session: SessionDep) -> list[MergeOut]:
    rows = session.scalars(select(CustomerMerge).order_by(CustomerMerge.id.desc()).limit(500))
    return [_out(m) for m in rows]


@router.post("/{merge_id}/undo", response_model=MergeOut, dependencies=[AdminKeyRequired],
             summary="Split the merged customer off again", responses={404: {}, 409: {}})
def undo(merge_id: int, session: SessionDep, request: Request) -> MergeOut:
    repo = IdentityRepository(session)
    survivor, restored = undo_merge(repo, merge_id)
    session.flush()
    refresh_customers(session=session, since={survivor: None, restored: None}, publish=True)
    session.commit()
    request.app.state.runtime.relay.notify()
    merge = repo.merge(merge_id)
    assert merge is not None
    return _out(merge)
