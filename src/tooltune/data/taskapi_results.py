"""Tool results and grounded final answers for the Task API (the contract the agent shares).

Results are compact JSON: create/update/complete return the task object (null fields
omitted), list returns ``{"tasks": [...]}``, delete returns ``{"deleted": ID}``, and errors
``{"error": "task 42 not found"}``.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from tooltune.core.dates import due_date_iso

from . import words

FIELDS = ("id", "title", "description", "due_date", "priority", "status")


def compact(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def task_object(task: dict[str, Any]) -> dict[str, Any]:
    """A task in contract key order, null fields left out."""
    return {k: task[k] for k in FIELDS if task.get(k) is not None}


def not_found(task_id: int) -> str:
    return compact({"error": f"task {task_id} not found"})


@dataclass
class TaskStore:
    """An in-memory task list that answers calls exactly as the Task API does."""

    tasks: dict[int, dict[str, Any]] = field(default_factory=dict)
    next_id: int = 1
    today: date | None = None
    """Resolves the ``due_date`` words of create/update calls (as the real tools do)."""

    @classmethod
    def random(cls, rng: random.Random, today_iso: str | None = None, n: int | None = None) -> "TaskStore":
        store = cls(next_id=rng.randint(1, 400), today=date.fromisoformat(today_iso) if today_iso else None)
        for t in words.distinct_titles(rng, rng.randint(0, 5) if n is None else n):
            task = {"id": store.next_id, "title": t, "status": rng.choice(["open", "open", "open", "done"])}
            if rng.random() < 0.4:
                task["priority"] = rng.choice(["low", "medium", "high"])
            if today_iso and rng.random() < 0.4:
                task["due_date"] = (date.fromisoformat(today_iso) + timedelta(days=rng.randint(-3, 40))).isoformat()
            store.tasks[store.next_id] = task
            store.next_id += rng.randint(1, 3)
        return store

    def add(self, task: dict[str, Any]) -> dict[str, Any]:
        self.tasks[task["id"]] = task
        self.next_id = max(self.next_id, task["id"] + 1)
        return task

    def call(self, name: str, args: dict[str, Any]) -> str:
        """The JSON result of one call."""
        if args.get("due_date") is not None and name in ("create_task", "update_task"):
            try:
                args = args | {"due_date": due_date_iso(args["due_date"], self.today or date.today())}
            except ValueError as e:
                return compact({"error": str(e)})
        if name == "create_task":
            task = {"id": self.next_id, **{k: args.get(k) for k in ("title", "description", "due_date", "priority")},
                    "status": "open"}
            self.tasks[self.next_id] = task
            self.next_id += 1
            return compact(task_object(task))
        if name == "list_tasks":
            status = args.get("status", "all")
            hits = [t for t in self.tasks.values()
                    if (status == "all" or t["status"] == status)
                    and ("priority" not in args or t.get("priority") == args["priority"])]
            return compact({"tasks": [task_object(t) for t in hits]})
        task_id = args["task_id"]
        task = self.tasks.get(task_id)
        if task is None:
            return not_found(task_id)
        if name == "complete_task":
            if task["status"] == "done":
                return compact({"error": f"task {task_id} is already done"})
            task["status"] = "done"
            return compact(task_object(task))
        if name == "update_task":
            for k in ("title", "description", "due_date", "priority"):
                if k in args:
                    task[k] = args[k]
            return compact(task_object(task))
        if name == "delete_task":
            del self.tasks[task_id]
            return compact({"deleted": task_id})
        raise ValueError(f"not a Task API tool: {name}")


# --- grounded final answers ---

def _q(title: str) -> str:
    return '"' + title + '"'


def _details(task: dict[str, Any]) -> str:
    bits = []
    if task.get("due_date"):
        bits.append(f"due {task['due_date']}")
    if task.get("priority"):
        bits.append(f"{task['priority']} priority")
    return ", ".join(bits)


def describe(name: str, args: dict[str, Any], result: str, rng: random.Random) -> str:
    """One sentence that states what the result says (never more)."""
    data = json.loads(result)
    if "error" in data:
        return error_answer(data["error"], rng)
    if name == "create_task":
        d = _details(data)
        head = rng.choice(["Created task", "Added task", "Created task"])
        return f"{head} {data['id']} {_q(data['title'])}" + (f", {d}." if d else ".")
    if name == "update_task":
        changed = [k for k in ("title", "description", "due_date", "priority") if k in args]
        parts = []
        for k in changed:
            if k == "title":
                parts.append(f"title is now {_q(data['title'])}")
            elif k == "description":
                parts.append("description updated")
            elif k == "due_date":
                parts.append(f"due date is now {data['due_date']}")
            else:
                parts.append(f"priority is now {data['priority']}")
        return f"Updated task {data['id']} {_q(data['title'])}: " + ", ".join(parts) + "."
    if name == "complete_task":
        return rng.choice([f"Marked task {data['id']} {_q(data['title'])} as done.",
                           f"Done: task {data['id']} {_q(data['title'])} is complete."])
    if name == "delete_task":
        return f"Deleted task {data['deleted']}."
    if name == "list_tasks":
        return list_answer(args, data["tasks"])
    raise ValueError(name)


def list_answer(args: dict[str, Any], tasks: list[dict[str, Any]]) -> str:
    status = args.get("status", "all")
    label = {"open": "open ", "done": "done ", "all": ""}[status]
    prio = f"{args['priority']}-priority " if "priority" in args else ""
    if not tasks:
        return f"You have no {prio}{label}tasks."
    items = []
    for t in tasks:
        d = _details(t)
        extra = []
        if d:
            extra.append(d)
        if status == "all":
            extra.append(t["status"])
        items.append(f"{t['id']} {_q(t['title'])}" + (f" ({', '.join(extra)})" if extra else ""))
    noun = "task" if len(tasks) == 1 else "tasks"
    return f"You have {len(tasks)} {prio}{label}{noun}: " + "; ".join(items) + "."


def error_answer(error: str, rng: random.Random) -> str:
    if error.endswith("not found"):
        task_id = error.split()[1]
        return rng.choice([
            f"I couldn't find task {task_id}. Want me to list your tasks so you can pick the right one?",
            f"There is no task {task_id}. Should I show your open tasks?",
            f"Task {task_id} doesn't exist. Do you want to see your task list?",
        ])
    if error.endswith("already done"):
        task_id = error.split()[1]
        return f"Task {task_id} is already marked as done."
    return f"That didn't work: {error}."


def summarize(answers: list[str]) -> str:
    """Final answer for several results: each one-sentence answer, in call order."""
    return " ".join(answers)
