"""How long other requests wait while Fill, Fix and Refine run: the event loop's longest stall.

A pygls ``LanguageClient`` starts ``diffusion-lsp serve`` over stdio with the embedded model (the
default, offline, CPU), opens documents of 100 to 1,000 lines and one with a 100 KB line, and runs
each editing command on them. While a command runs, a probe sends ``diffusionLsp.status`` (a
handler that answers from the event loop at once) back to back; a probe's round trip is how long a
request waits behind whatever the loop is doing. The idle round trip, measured first in the same run,
is the floor. Also timed: listing code actions and an inline completion on each document.

    python benchmarks/bench_stall.py [--model DIR] [--update docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import bench_server  # noqa: E402 (benchmarks/ is on sys.path when run as a script)
from lsprotocol import types

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Event-loop stalls during Fill, Fix and Refine"
MODULE = (ROOT / "tests" / "lsp" / "fixtures" / "inventory.py").read_text()
TARGET_MS = 50.0
PROBE_GAP_S = 0.005


class Client(bench_server.Client):
    """bench_server's client (status and diagnostics), refusing every edit: each command then runs
    the same work each time."""

    def __init__(self) -> None:
        super().__init__()

        @self.feature(types.WORKSPACE_APPLY_EDIT)
        def apply_edit(params) -> types.ApplyWorkspaceEditResult:
            return types.ApplyWorkspaceEditResult(applied=False, failure_reason="benchmark")


def documents() -> dict[str, tuple[str, types.Range]]:
    """name -> (text, the selection refine and fill act on)."""
    lines = MODULE.split("\n")
    out: dict[str, tuple[str, types.Range]] = {}
    for n in (100, 400, 1000):
        body = "\n".join((lines * (n // len(lines) + 1))[:n]) + "\n"
        body = body.replace("        return total\n", "        pass\n", 3)
        out[f"{n} lines"] = (body, _range(body, "    def total"))
    data = "DATA = [" + ", ".join(str(i % 997) for i in range(25_000)) + "]\n"
    text = data + MODULE.replace("        return total\n", "        pass\n")
    out[f"a {len(data) // 1000} KB line"] = (text, _range(text, "    def total"))
    return out


def _range(text: str, marker: str) -> types.Range:
    line = text[: text.index(marker)].count("\n")
    return types.Range(
        start=types.Position(line=line, character=0), end=types.Position(line=line + 5, character=0)
    )


def broken(text: str) -> str:
    """``text`` with a ``)`` dropped in its middle: tree-sitter's ERROR then spans most of it."""
    at = text.index('log.info("added %s", name)', len(text) // 2)
    return text[:at] + 'log.info("added %s", name' + text[at + len('log.info("added %s", name)') :]


async def probe_while(client: Client, work) -> tuple[float, list[float]]:
    """Run ``work`` while probing; (its duration in ms, the probes' round trips in ms)."""
    task = asyncio.ensure_future(work)
    waits: list[float] = []
    start = time.perf_counter()
    while not task.done():
        t0 = time.perf_counter()
        await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="diffusionLsp.status")
        )
        waits.append((time.perf_counter() - t0) * 1000)
        await asyncio.sleep(PROBE_GAP_S)  # paced, so the probes do not take the cores themselves
    await task
    return (time.perf_counter() - start) * 1000, waits


async def run(model: str | None, server_log: Path | None = None) -> dict:
    client = Client()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    extra: list[str] = []
    if server_log is not None:  # asyncio's debug mode logs every callback that takes over 100 ms
        env["PYTHONASYNCIODEBUG"] = "1"
        extra = ["--log-file", str(server_log)]
    await client.start_io(sys.executable, "-m", "diffusion_lsp", "serve", *extra, env=env)
    await client.initialize_async(
        types.InitializeParams(
            capabilities=types.ClientCapabilities(
                workspace=types.WorkspaceClientCapabilities(apply_edit=True)
            ),
            initialization_options={"model": model or "", "diagnostics": {"debounceMs": 0}},
        )
    )
    client.initialized(types.InitializedParams())
    await client.ready.wait()
    if client.state != "ready":
        raise SystemExit("the model did not load")
    idle = []
    for _ in range(200):
        t0 = time.perf_counter()
        await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="diffusionLsp.status")
        )
        idle.append((time.perf_counter() - t0) * 1000)
    rows = []
    version = 0
    for name, (text, selection) in documents().items():
        for kind in ("fill", "fix", "refine"):
            version += 1
            uri = f"file:///bench/{kind}-{version}.py"
            body = broken(text) if kind == "fix" else text
            client.text_document_did_open(
                types.DidOpenTextDocumentParams(
                    text_document=types.TextDocumentItem(
                        uri=uri, language_id="python", version=1, text=body
                    )
                )
            )
            rng = selection if kind != "fix" else None
            args = [uri] + ([client.protocol._converter.unstructure(rng)] if rng else [])
            ms, waits = await probe_while(
                client,
                client.workspace_execute_command_async(
                    types.ExecuteCommandParams(command=f"diffusionLsp.{kind}", arguments=args)
                ),
            )
            t0 = time.perf_counter()
            await client.text_document_code_action_async(
                types.CodeActionParams(
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    range=selection,
                    context=types.CodeActionContext(diagnostics=[]),
                )
            )
            actions_ms = (time.perf_counter() - t0) * 1000
            rows.append((name, kind, ms, waits, actions_ms))
            print(
                f"{name:>14} {kind:>6}: {ms:7.0f} ms, {len(waits):4d} probes, "
                f"longest wait {max(waits):6.1f} ms, code actions {actions_ms:5.1f} ms",
                flush=True,
            )
            client.text_document_did_close(
                types.DidCloseTextDocumentParams(
                    text_document=types.TextDocumentIdentifier(uri=uri)
                )
            )
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return {"idle": idle, "rows": rows}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(result: dict, model: str | None) -> str:
    idle = result["idle"]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    worst = max(max(w) for *_, w, _ in result["rows"])
    lines = [
        SECTION,
        "",
        "Measured with `python benchmarks/bench_stall.py`: a pygls client runs `diffusion-lsp serve`",
        f"with {'the model ' + model if model else 'the embedded model (the default, CPU)'}, opens each",
        "document and runs each command on it; while the command runs, a probe sends",
        "`diffusionLsp.status` (answered on the event loop) back to back, and its round trip is how",
        "long any request waits behind the loop. Fix runs on the document with one `)` dropped in",
        "its middle (tree-sitter's ERROR then covers most of the file); Fill on three `pass` holes;",
        "Refine on a five-line selection. The client refuses the edits, so every command runs the",
        f"same work each time. Target: the longest wait under {TARGET_MS:.0f} ms.",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores (load average {load:.1f}),",
        f"Python {platform.python_version()}.",
        "",
        f"Idle probe round trip (the floor): p50 {pct(idle, 0.5):.2f} ms, max {max(idle):.2f} ms.",
        "",
        "| document | command | command ms | probes | p50 wait ms | longest wait ms | code actions ms |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, kind, ms, waits, actions_ms in result["rows"]:
        lines.append(
            f"| {name} | {kind} | {ms:.0f} | {len(waits)} | {statistics.median(waits):.2f} "
            f"| {max(waits):.1f} | {actions_ms:.1f} |"
        )
    verdict = "met" if worst < TARGET_MS else "missed"
    lines += [
        "",
        f"Longest wait over all runs: {worst:.1f} ms (target {TARGET_MS:.0f} ms: {verdict}).",
        "",
    ]
    return "\n".join(lines)


def update(path: Path, text: str) -> None:
    doc = path.read_text()
    if SECTION in doc:
        start = doc.index(SECTION)
        rest = doc.find("\n## ", start + len(SECTION))
        doc = doc[:start] + text + (doc[rest + 1 :] if rest >= 0 else "")
    else:
        doc = doc.rstrip("\n") + "\n\n" + text
    path.write_text(doc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a model directory (default: the embedded model)")
    parser.add_argument("--update", type=Path, help="write the section into this markdown file")
    parser.add_argument(
        "--server-log", type=Path, help="diagnosis: the server's log, with asyncio's slow callbacks"
    )
    args = parser.parse_args()
    result = asyncio.run(run(args.model, args.server_log))
    text = report(result, args.model)
    print(text)
    if args.update:
        update(args.update, text)


if __name__ == "__main__":
    main()
