from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Response, status
from sqlalchemy import select

from ..db import Priority, Status, Task
from ..deps import SessionDep, require_api_key
from ..models import PriorityValue, StatusValue, TaskCreate, TaskPublic, TasksPublic, TaskUpdate

router = APIRouter(prefix="/tasks", tags=["tasks"], dependencies=[Depends(require_api_key)])

_NOT_FOUND = {404: {"description": "No task with this id"}}


def _get_or_404(session: SessionDep, task_id: int) -> Task:
    task = session.get(Task, task_id)
    if task is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=f"task {task_id} not found")
    return task


@router.post("", status_code=status.HTTP_201_CREATED)
def create_task(body: TaskCreate, session: SessionDep) -> TaskPublic:
    task = Task(
        title=body.title,
        description=body.description,
        due_date=body.due_date,
        priority=Priority(body.priority) if body.priority else None,
    )
    session.add(task)
    session.commit()
    return TaskPublic.model_validate(task)


@router.get("")
def list_tasks(
    session: SessionDep, status: StatusValue | None = None, priority: PriorityValue | None = None
) -> TasksPublic:
    """All tasks by id, optionally only those with the given status and/or priority."""
    query = select(Task).order_by(Task.id)
    if status is not None:
        query = query.where(Task.status == Status(status))
    if priority is not None:
        query = query.where(Task.priority == Priority(priority))
    tasks = [TaskPublic.model_validate(t) for t in session.scalars(query)]
    return TasksPublic(data=tasks, count=len(tasks))


@router.get("/{task_id}", responses=_NOT_FOUND)
def get_task(task_id: int, session: SessionDep) -> TaskPublic:
    return TaskPublic.model_validate(_get_or_404(session, task_id))


@router.patch("/{task_id}", responses=_NOT_FOUND)
def update_task(task_id: int, body: TaskUpdate, session: SessionDep) -> TaskPublic:
    task = _get_or_404(session, task_id)
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    for field in ("title", "status"):
        # These columns are not nullable: an explicit null means "leave unchanged".
        if changes.get(field, "") is None:
            changes.pop(field)
    if changes.get("priority") is not None:
        changes["priority"] = Priority(changes["priority"])
    if "status" in changes:
        changes["status"] = Status(changes["status"])
    for field, value in changes.items():
        setattr(task, field, value)
    session.commit()
    return TaskPublic.model_validate(task)


@router.post("/{task_id}/complete", responses={**_NOT_FOUND, 409: {"description": "The task is already done"}})
def complete_task(task_id: int, session: SessionDep) -> TaskPublic:
    """Mark an open task done; completing a done task is a 409, so callers notice."""
    task = _get_or_404(session, task_id)
    if task.status == Status.done:
        raise HTTPException(status_code=status.HTTP_409_CONFLICT, detail=f"task {task_id} is already done")
    task.status = Status.done
    session.commit()
    return TaskPublic.model_validate(task)


@router.delete("/{task_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_NOT_FOUND)
def delete_task(task_id: int, session: SessionDep) -> Response:
    session.delete(_get_or_404(session, task_id))
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
