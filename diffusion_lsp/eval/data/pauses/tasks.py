"""A to-do list kept in a JSON file: add, complete, and list tasks from the command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime

STORE = os.path.expanduser("~/.tasks.json")


def load(path=STORE):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return json.load(f)


def save(tasks, path=STORE):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(tasks, f, indent=2)
    os.replace(tmp, path)


def next_id(tasks):
    return max((t["id"] for t in tasks), default=0) + 1


def add(tasks, title, due=None):
    task = {"id": next_id(tasks), "title": title, "done": False, "due": due}
    tasks.append(task)
    return task


def complete(tasks, task_id):
    for task in tasks:
        if task["id"] == task_id:
            task["done"] = True
            task["completed_at"] = datetime.now().isoformat(timespec="seconds")
            return task
    raise KeyError(task_id)


def pending(tasks):
    return [t for t in tasks if not t["done"]]


def overdue(tasks, today):
    return [t for t in pending(tasks) if t["due"] and t["due"] < today]


def format_task(task):
    mark = "x" if task["done"] else " "
    due = f" (due {task['due']})" if task["due"] else ""
    return f"[{mark}] {task['id']:>3} {task['title']}{due}"


def main(argv=None):
    parser = argparse.ArgumentParser(description="a small to-do list")
    sub = parser.add_subparsers(dest="command", required=True)
    add_cmd = sub.add_parser("add")
    add_cmd.add_argument("title")
    add_cmd.add_argument("--due")
    done_cmd = sub.add_parser("done")
    done_cmd.add_argument("id", type=int)
    sub.add_parser("list")
    args = parser.parse_args(argv)
    tasks = load()
    if args.command == "add":
        task = add(tasks, args.title, args.due)
        print(format_task(task))
    elif args.command == "done":
        complete(tasks, args.id)
    else:
        for task in pending(tasks):
            print(format_task(task))
    save(tasks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
