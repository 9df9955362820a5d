"""The remote backend's overhead: per inline completion, through ``RemoteEngine`` against a direct
streamed request to the same llama.cpp server, in one run.

A llama-cpp-python server on loopback serves the tiny random GGUF of the tests
(``engine/testing/llama_server.py``). Each round sends one inline completion (the mode's request for
a Python hole, ``--tokens`` tokens, greedy) twice, interleaved so both see the same load: once
through the backend (``engine.infill``: windowing, the body, streaming, parsing, the result), once
as the same JSON body streamed with a bare ``httpx.Client`` read to its end. The figures are wall
milliseconds per completion as the caller sees them; p50 and p90 over ``--rounds``.

    python benchmarks/bench_remote.py --rounds 100 --mode completions
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PREFIX = "import os\n\n\ndef list_python_files(root):\n    out = []\n    for name in os.listdir(root):\n        if "
SUFFIX = ":\n            out.append(name)\n    return out\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--mode", default="completions", choices=["chat", "completions", "fim"])
    args = parser.parse_args()

    import httpx

    from diffusion_lsp.engine.api import InfillRequest, RemoteSpec
    from diffusion_lsp.engine.remote import connect, modes
    from diffusion_lsp.engine.testing.llama_server import LlamaServer, write_tiny_gguf

    where = Path(tempfile.mkdtemp(prefix="bench-remote-"))
    server = LlamaServer(write_tiny_gguf(where / "tiny.gguf"), where / "server.log")
    try:
        server.wait_ready()
        spec = RemoteSpec(url=server.url, mode=args.mode, fim_path="/v1/completions")
        engine = connect(spec)
        request = InfillRequest(
            PREFIX, SUFFIX, max_tokens=args.tokens, temperature=0.0, seed=0, single_line=True
        )
        path, body = modes.infill_call(args.mode, spec.fim_path, PREFIX, SUFFIX, 2048)
        body = modes.sampling(body, path, engine.model, args.tokens, 0.0, 0, True)
        direct_client = httpx.Client(base_url=server.url, timeout=60)

        def direct() -> str:
            parts = []
            with direct_client.stream("POST", path, json=body) as response:
                for line in response.iter_lines():
                    if line.startswith("data: ") and line[6:] != "[DONE]":
                        choice = json.loads(line[6:])["choices"][0]
                        parts.append(
                            choice.get("text") or (choice.get("delta") or {}).get("content") or ""
                        )
            return "".join(parts)

        for _ in range(5):  # warm both paths (connections, the server's prompt cache)
            engine.infill(request)
            direct()
        backend_ms, direct_ms, same = [], [], 0
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            got = engine.infill(request).text
            t1 = time.perf_counter()
            want = direct()
            t2 = time.perf_counter()
            backend_ms.append((t1 - t0) * 1000)
            direct_ms.append((t2 - t1) * 1000)
            same += got == want.split("\n", 1)[0] if args.mode != "chat" else got == want
        p50_b, p50_d = statistics.median(backend_ms), statistics.median(direct_ms)
        q = lambda xs: statistics.quantiles(xs, n=10)[-1]  # noqa: E731 - p90
        print(f"mode {args.mode}, {args.rounds} rounds, {args.tokens} tokens, one run")
        print(f"through the backend: p50 {p50_b:.2f} ms, p90 {q(backend_ms):.2f} ms")
        print(f"direct request:      p50 {p50_d:.2f} ms, p90 {q(direct_ms):.2f} ms")
        print(
            f"overhead:            p50 {p50_b - p50_d:+.2f} ms ({(p50_b / p50_d - 1) * 100:+.1f}%)"
        )
        print(f"same text:           {same}/{args.rounds}")
        engine.close()
        direct_client.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
