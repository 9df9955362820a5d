"""A stand-in for diffusion-lsp in the Neovim start-up tests: it speaks just enough LSP on stdio and
writes what the client sent to a log, one JSON object a line, so that the tests can check the JSON
itself (an empty Lua table must arrive as ``{}``, never ``[]``).

    DIFFUSION_LSP_FAKE_LOG=FILE python fake_server.py

What it does:
- ``initialize``: advertises inline completion and the ``diffusionLsp.*`` commands; logs the shape
  (see ``shape``) of ``initializationOptions``.
- ``initialized`` and every ``workspace/didChangeConfiguration`` (whose settings' shape it logs): asks
  ``workspace/configuration`` for the ``diffusionLsp`` section and logs the shape of the answer;
  after ``initialized`` it reports ``ready`` with a status notification.
- ``textDocument/inlineCompletion``: answers one item at once, unless the cursor line contains
  ``hold``: then it waits for ``$/cancelRequest`` and answers RequestCancelled.
- ``diffusionLsp.fix``, ``.fill``, ``.refine``: ``window/workDoneProgress/create``, then ``$/progress``
  begin (cancellable) and a report, and waits for ``window/workDoneProgress/cancel``; then ends the
  progress and answers ``{applied: false, message: "... cancelled"}``.
- ``diffusionLsp.status``: answers the status.

Stdlib only; no model, so a run takes a moment.
"""

from __future__ import annotations

import json
import os
import sys

TITLES = {
    "diffusionLsp.fix": "diffusion-lsp: Fix syntax errors",
    "diffusionLsp.fill": "diffusion-lsp: Fill holes",
    "diffusionLsp.refine": "diffusion-lsp: Refine selection",
}
STATUS = {
    "state": "ready",
    "model": "fake-model",
    "device": "cpu",
    "dtype": "float32",
    "lastLatencyMs": 12,
}

log_path = os.environ.get("DIFFUSION_LSP_FAKE_LOG", "")
stdin = sys.stdin.buffer
stdout = sys.stdout.buffer
documents: dict[str, list[str]] = {}
held_inline: dict[object, object] = {}  # request id -> id (waiting for $/cancelRequest)
held_commands: dict[str, object] = {}  # progress token -> request id (waiting for the cancel)
pending_server_requests: dict[int, str] = {}  # id of a request we sent -> its method
next_id = 1000


def log(event: dict) -> None:
    if log_path:
        with open(log_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(event) + "\n")


def type_name(value: object) -> str:
    return {dict: "object", list: "array", str: "string", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def shape(value: object) -> object:
    """The JSON's shape: "{}" and "[]" for empty objects and arrays, objects and arrays of shapes,
    else the type name (a Lua test cannot tell ``{}`` from ``[]`` once decoded)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()} if value else "{}"
    if isinstance(value, list):
        return [shape(v) for v in value] if value else "[]"
    return type_name(value)


def read_message() -> dict | None:
    length = None
    while True:
        line = stdin.readline()
        if not line:
            return None
        line = line.strip()
        if not line:
            break
        name, _, value = line.decode("ascii").partition(":")
        if name.lower() == "content-length":
            length = int(value.strip())
    if length is None:
        return None
    return json.loads(stdin.read(length).decode("utf-8"))


def send(message: dict) -> None:
    message["jsonrpc"] = "2.0"
    body = json.dumps(message).encode("utf-8")
    stdout.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    stdout.flush()


def request(method: str, params: dict) -> None:
    global next_id
    next_id += 1
    pending_server_requests[next_id] = method
    send({"id": next_id, "method": method, "params": params})


def ask_configuration() -> None:
    request("workspace/configuration", {"items": [{"section": "diffusionLsp"}]})


def on_request(msg: dict) -> None:
    method, params, rid = msg["method"], msg.get("params") or {}, msg["id"]
    if method == "initialize":
        options = params.get("initializationOptions", "absent")
        caps = params.get("capabilities", {})
        log(
            {
                "event": "initialize",
                "initializationOptions": shape(options),
                "workDoneProgress": (caps.get("window") or {}).get("workDoneProgress"),
            }
        )
        send(
            {
                "id": rid,
                "result": {
                    "capabilities": {
                        "textDocumentSync": 1,
                        "inlineCompletionProvider": True,
                        "executeCommandProvider": {
                            "commands": [*TITLES, "diffusionLsp.status"],
                        },
                    },
                    "serverInfo": {"name": "fake-diffusion-lsp", "version": "0.0.0"},
                },
            }
        )
    elif method == "shutdown":
        send({"id": rid, "result": None})
    elif method == "textDocument/inlineCompletion":
        uri = params["textDocument"]["uri"]
        line = params["position"]["line"]
        text = documents.get(uri, [])
        current = text[line] if line < len(text) else ""
        log({"event": "inline", "id": rid, "triggerKind": params["context"]["triggerKind"]})
        if "hold" in current:
            held_inline[rid] = rid
        else:
            send({"id": rid, "result": {"items": [{"insertText": "fake"}]}})
    elif method == "workspace/executeCommand":
        command = params["command"]
        log({"event": "command", "command": command})
        if command in TITLES:
            token = f"job-{rid}"
            held_commands[token] = rid
            request("window/workDoneProgress/create", {"token": token})
            send(
                {
                    "method": "$/progress",
                    "params": {
                        "token": token,
                        "value": {
                            "kind": "begin",
                            "title": TITLES[command],
                            "cancellable": True,
                            "percentage": 0,
                        },
                    },
                }
            )
            send(
                {
                    "method": "$/progress",
                    "params": {
                        "token": token,
                        "value": {"kind": "report", "message": "step 1/4", "percentage": 25},
                    },
                }
            )
        else:
            send({"id": rid, "result": STATUS})
    else:
        send({"id": rid, "error": {"code": -32601, "message": "unknown method " + method}})


def on_notification(msg: dict) -> None:
    method, params = msg["method"], msg.get("params") or {}
    if method == "initialized":
        ask_configuration()
        send({"method": "diffusionLsp/status", "params": STATUS})
    elif method == "workspace/didChangeConfiguration":
        settings = params.get("settings")
        log(
            {
                "event": "didChangeConfiguration",
                "settings": shape(settings),
            }
        )
        ask_configuration()
    elif method == "textDocument/didOpen":
        doc = params["textDocument"]
        documents[doc["uri"]] = doc["text"].split("\n")
    elif method == "textDocument/didChange":
        for change in params["contentChanges"]:
            documents[params["textDocument"]["uri"]] = change["text"].split("\n")
    elif method == "$/cancelRequest":
        rid = params["id"]
        log({"event": "cancelRequest", "id": rid})
        if held_inline.pop(rid, None) is not None:
            send({"id": rid, "error": {"code": -32800, "message": "cancelled"}})
    elif method == "window/workDoneProgress/cancel":
        token = params["token"]
        log({"event": "progressCancel", "token": token})
        rid = held_commands.pop(token, None)
        if rid is not None:
            send(
                {
                    "method": "$/progress",
                    "params": {"token": token, "value": {"kind": "end", "message": "cancelled"}},
                }
            )
            send({"id": rid, "result": {"applied": False, "message": "the job was cancelled"}})
    elif method == "exit":
        sys.exit(0)


def on_response(msg: dict) -> None:
    method = pending_server_requests.pop(msg["id"], None)
    if method == "workspace/configuration":
        log({"event": "configuration", "result": shape(msg.get("result"))})


def main() -> None:
    log({"event": "started", "argv": sys.argv})
    while True:
        msg = read_message()
        if msg is None:
            return
        if "method" in msg and "id" in msg:
            on_request(msg)
        elif "method" in msg:
            on_notification(msg)
        else:
            on_response(msg)


if __name__ == "__main__":
    main()
