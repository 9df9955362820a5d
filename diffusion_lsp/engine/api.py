"""The engine's public API in plain Python types: requests, results, errors, cancellation.

The language server, the CLI and the tests speak to the engine only through these types. Nothing here
imports torch or pygls, so importing this module is cheap.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Literal, Protocol, get_args

Dtype = Literal["auto", "float32", "bfloat16", "float16"]
# The dtype names, and those of real weight dtypes (``auto`` resolves to one): the one list the
# settings, the command lines and the loader take their choices from.
DTYPES: tuple[Dtype, ...] = get_args(Dtype)
WEIGHT_DTYPES: tuple[Dtype, ...] = tuple(d for d in DTYPES if d != "auto")
InfillMode = Literal["auto", "inpaint", "instruct"]
Quantization = Literal["none", "8bit", "4bit", "fp8"]
Family = Literal["masked", "block"]
# What ``ModelSpec.family`` may say: auto (read the checkpoint), an engine family, or a checkpoint
# family loaded natively (``engine/families.py``).
FamilyChoice = Literal["auto", "masked", "block", "dream", "dreamon", "llada", "open-dcoder"]
FAMILY_CHOICES: tuple[FamilyChoice, ...] = get_args(FamilyChoice)


class EngineError(Exception):
    """An error the user can act on: ``message`` says what happened, ``fix`` what to do about it."""

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message if not fix else f"{message} Fix: {fix}")
        self.message = message
        self.fix = fix


class ModelLoadError(EngineError):
    """The model could not be loaded (missing, offline, out of memory, unsupported, ...)."""


class Cancelled(Exception):
    """Raised inside a job whose cancel token was set; the job's result is discarded."""


class CancelToken:
    """A flag the denoising loop checks between steps. Setting it ends the job within one step."""

    __slots__ = ("_event", "reason")

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""

    def cancel(self, reason: str = "cancelled") -> None:
        self.reason = reason
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled(self.reason)


RemoteMode = Literal["chat", "completions", "fim"]
REMOTE_MODES: tuple[RemoteMode, ...] = get_args(RemoteMode)


@dataclass(frozen=True)
class RemoteSpec:
    """An OpenAI-compatible server that runs the model instead of this process (engine/remote).

    ``api_key_env`` names the environment variable that holds the key; the key itself is read when
    the engine connects and is never stored here."""

    url: str
    model: str = ""  # empty: the first model the server lists
    api_key_env: str = ""
    mode: RemoteMode = "chat"
    fim_path: str = "/v1/fim/completions"
    timeout_s: float = 30.0


@dataclass(frozen=True)
class ModelSpec:
    """Which model to load and how. ``model=None`` means the project's embedded default model."""

    model: str | None = None
    revision: str | None = None
    dtype: Dtype = "auto"
    device: str = "auto"
    device_map: str | None = None
    trust_remote_code: bool = False
    infill_mode: InfillMode = "auto"
    quantization: Quantization = "none"
    family: FamilyChoice = "auto"
    remote: RemoteSpec | None = None  # set: a remote server runs the model, the rest is unused


@dataclass(frozen=True)
class InfillRequest:
    """Fill the hole between ``prefix`` and ``suffix``.

    The hole's length is searched: each of ``lengths`` (in tokens) is denoised as one candidate in one
    batch and the best is chosen. ``lengths=None`` lets the engine pick a ladder up to ``max_tokens``;
    with ``search_length`` off, a masked model trained to fill a hole's unused end with its null token
    (the embedded family) gets one hole, the ladder's longest, instead (a third of the CPU work of
    the ladder's three rows; the other models, which write code into every slot, search all the same).
    """

    prefix: str
    suffix: str
    lengths: tuple[int, ...] | None = None
    max_tokens: int = 64
    search_length: bool = True  # False: one hole where the model has a null token (above)
    steps: int | None = None  # None: the checkpoint's default
    temperature: float | None = None  # None: the checkpoint's default (0 = greedy)
    seed: int | None = 0
    alternatives: int = 1
    single_line: bool = False  # stop the text at the first newline (inline completion mid-line)
    context_tokens: int = 2048  # token budget for prefix + suffix, nearest lines kept
    document: str | None = None  # the document's URI: keys the engine's prompt cache
    # Text the model reads before the (windowed) prefix and that the window never trims: the user's
    # recent edits for a next edit. Masked engines put it after the lead tokens; DiffusionGemma and
    # the remote chat mode put it in the instruction prompt.
    preamble: str = ""


@dataclass(frozen=True)
class RefineRequest:
    """Rewrite ``text`` (between ``prefix`` and ``suffix``): renoise the least confident ``fraction``
    of its tokens, keep (clamp) the rest."""

    prefix: str
    text: str
    suffix: str
    fraction: float = 0.3
    max_tokens: int = 256
    steps: int | None = None
    temperature: float | None = None
    seed: int | None = 0
    alternatives: int = 1
    context_tokens: int = 2048
    document: str | None = None  # the document's URI: keys the engine's prompt cache
    preamble: str = ""  # as ``InfillRequest.preamble``


@dataclass(frozen=True)
class ScoreRequest:
    """How much the model wants to change each of ``windows`` (str offsets ``[start, end)`` into
    ``text``) as it stands, the rest of ``text`` the context; every window in one batch.

    Masked models mask the window's existing tokens in strides (row k of a window masks every
    ``stride``-th token from k) and read each token's probability where it is masked;
    DiffusionGemma reads them from one forward over the window's text as its starting canvas (the
    warm start). Next edit uses it to find where the code disagrees with the user's last edit.
    """

    text: str
    windows: tuple[tuple[int, int], ...]
    stride: int = 4
    context_tokens: int = 1024  # token budget for each window's context, nearest lines kept
    preamble: str = ""  # as ``InfillRequest.preamble``
    document: str | None = None


@dataclass(frozen=True)
class TokenScore:
    """One existing token of a window: its str offsets into ``ScoreRequest.text``, how much the
    model disagrees with it (``p(the model's top token) - p(this token)``, in [0, 1]; 0 when it is
    the top token) and the text of the model's top token."""

    start: int
    end: int
    disagreement: float
    top: str
    logprob: float = 0.0  # log p(this token) where it was masked (the warm start: in the canvas)


@dataclass(frozen=True)
class WindowScore:
    """``score``: the window's largest token disagreement (0 for an empty window)."""

    score: float
    tokens: tuple[TokenScore, ...]


@dataclass(frozen=True)
class ScoreResult:
    windows: tuple[WindowScore, ...]  # one per request window, in order
    nfe: int
    timings: Timings


@dataclass(frozen=True)
class Timings:
    """Milliseconds spent in each phase of one request."""

    tokenize_ms: float = 0.0
    prefill_ms: float = 0.0
    denoise_ms: float = 0.0
    total_ms: float = 0.0


@dataclass(frozen=True)
class Candidate:
    """One filled text with its per-token confidence (probability of the chosen token)."""

    text: str
    confidence: tuple[float, ...]
    length: int  # canvas length in tokens this candidate was denoised at

    @property
    def score(self) -> float:
        return sum(self.confidence) / len(self.confidence) if self.confidence else 0.0


@dataclass(frozen=True)
class Result:
    """The best candidate first in ``alternatives``; ``text`` and ``confidence`` repeat it."""

    text: str
    confidence: tuple[float, ...]
    nfe: int  # model forward calls (denoising steps, plus prefill where the family has one)
    timings: Timings
    alternatives: tuple[Candidate, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class EngineInfo:
    """What is loaded, for status reports."""

    model: str
    family: Family
    device: str
    dtype: str
    parameters: int = 0
    load_ms: float = 0.0


class Engine(Protocol):
    """What the worker runs. Methods block; call them on the worker thread, never the event loop."""

    info: EngineInfo

    def infill(self, request: InfillRequest, cancel: CancelToken | None = None) -> Result: ...

    def refine(self, request: RefineRequest, cancel: CancelToken | None = None) -> Result: ...

    def score(self, request: ScoreRequest, cancel: CancelToken | None = None) -> ScoreResult:
        """Raises ``EngineError`` where the backend cannot score (a remote server)."""
        ...
