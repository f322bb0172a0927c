from fastapi import APIRouter
from sqlalchemy import text

from ..deps import SessionDep

router = APIRouter(tags=["health"])


@router.get("/health")
def health(session: SessionDep) -> dict[str, str]:
    """Liveness and database reachability (no API key needed)."""
    session.execute(text("SELECT 1"))
    return {"status": "ok"}
