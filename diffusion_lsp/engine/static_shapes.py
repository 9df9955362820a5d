"""Static shapes for both families: size buckets, and the capture of one step as a CUDA graph.

A CUDA graph replays fixed shapes at fixed addresses, so each family pads its step's inputs to a
bucket (the masked cache: context and recomputed span; DiffusionGemma: batch, canvas width and
context), captures each bucket's step once and replays it after that: typing never recaptures.
The bucket tables belong to each family (``masked/cache.py``, ``block/graphs.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")


def bucket(n: int, buckets: Iterable[int], beyond: int | None = None) -> int:
    """The smallest of ``buckets`` (ascending) that holds ``n``; past the largest, ``n`` rounded up to
    a multiple of ``beyond`` (default: the largest bucket)."""
    top = 0
    for b in buckets:
        if n <= b:
            return b
        top = b
    step = beyond or top
    return -(-n // step) * step


def capture(step: Callable[[], T], pool_from: Any | None = None) -> tuple[Any, T]:
    """Capture ``step()`` as a CUDA graph; returns the graph and the step's output tensors (static:
    each replay writes into them). ``step`` first runs once on a side stream (cuBLAS handles,
    autotuning). ``pool_from``: a live graph whose memory pool this one shares (only one graph
    replays at a time, so a family's graphs can share one pool)."""
    import torch

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph, pool=pool_from.pool() if pool_from is not None else None):
        out = step()
    return graph, out
