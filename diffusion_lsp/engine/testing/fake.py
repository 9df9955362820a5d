"""A deterministic fake engine for testing the language server's protocol behaviour (never a product path).

It is reachable only through ``diffusion-lsp serve --fake-engine``. Its texts are a pure function of
the request, so tests can state them exactly, and it runs a real step loop (checking the cancel token
between steps, sleeping ``step_ms`` per step) so cancellation and supersession are observable.

The ``model`` setting configures it: empty, or ``fake:key=value,...`` with keys

- ``step_ms`` (default 0): milliseconds per denoising step;
- ``load_ms`` (default 0): milliseconds the "load" takes (reported as progress in ten parts);
- ``fail``: load fails with this message (a ``ModelLoadError``);
- ``junk`` (default 0): 1 makes every text end in an unclosed ``(`` (so tests see the server refuse
  candidates that do not parse);
- ``rename=OLD>NEW`` (e.g. ``fake:rename=x>count``): the model "wants" OLD renamed to NEW (so tests
  see next edit find and rewrite the uses left after a rename).

Texts (``n`` = ``len(prefix)``, ``i`` = the alternative's index):

- infill, alternative ``i``: ``v{i}_{n}``, except alternative 1, which repeats the suffix's first
  non-blank line (so tests see the server drop a candidate that merely repeats the suffix);
  cut to ``max_tokens`` characters (a fake token is a character);
- refine: every integer literal in the text plus one (``x = 1`` -> ``x = 2``);
- with ``rename``, infill answers NEW (alternative 0, and every other one) when the prefix ends and
  the suffix starts with a non-identifier character (the hole where OLD stood), otherwise as above.

Score (``score``): a window's tokens are its identifiers, numbers and single other characters
(blanks are no token); with ``rename``, each token equal to OLD has disagreement 0.95 and top NEW,
every other token 0 with itself as top (so a window's score is 0.95 if OLD is in it, else 0);
without it every token scores 0. Log probabilities (``TokenScore.logprob``): an OLD token's is
``log(0.05)`` where NEW occurs in the text outside the window (the rename happened there), every
other token's 0; so next edit's rename judgement (the rename moved the model towards NEW) holds
wherever the text has NEW.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from diffusion_lsp.engine import api

DEFAULT_STEPS = 8
RENAME_DISAGREEMENT = 0.95
_TOKEN = re.compile(r"\w+|[^\w\s]")


@dataclass(frozen=True)
class FakeOptions:
    step_ms: float = 0.0
    load_ms: float = 0.0
    fail: str = ""
    junk: bool = False
    rename: tuple[str, str] | None = None  # (OLD, NEW)

    @classmethod
    def parse(cls, model: str | None) -> FakeOptions:
        if not model:
            return cls()
        if not model.startswith("fake:"):
            raise api.ModelLoadError(
                f"the fake engine does not load {model!r}",
                "use an empty model or 'fake:step_ms=N,load_ms=N,fail=MESSAGE,rename=OLD>NEW'",
            )
        opts: dict[str, str] = {}
        for part in filter(None, model[len("fake:") :].split(",")):
            key, _, value = part.partition("=")
            opts[key.strip()] = value.strip()
        rename = None
        if opts.get("rename"):
            old, sep, new = opts["rename"].partition(">")
            if not (sep and old and new):
                raise api.ModelLoadError(
                    f"the fake engine's rename option is {opts['rename']!r}", "write rename=OLD>NEW"
                )
            rename = (old, new)
        return cls(
            step_ms=float(opts.get("step_ms", 0)),
            load_ms=float(opts.get("load_ms", 0)),
            fail=opts.get("fail", ""),
            junk=opts.get("junk", "0") not in ("", "0"),
            rename=rename,
        )


def _identifier_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def infill_text(
    request: api.InfillRequest, index: int, rename: tuple[str, str] | None = None
) -> str:
    """The fake's text for alternative ``index`` of ``request``."""
    if (
        rename is not None
        and request.prefix
        and request.suffix
        and not _identifier_char(request.prefix[-1])
        and not _identifier_char(request.suffix[0])
    ):
        return rename[1][: request.max_tokens]
    if index == 1:
        repeat = next((line.strip() for line in request.suffix.splitlines() if line.strip()), "")
        if repeat:
            return repeat[: request.max_tokens]
    return f"v{index}_{len(request.prefix)}"[: request.max_tokens]


def score_window(
    text: str, start: int, end: int, rename: tuple[str, str] | None
) -> api.WindowScore:
    """The fake's score of ``text[start:end]`` (see the module docstring)."""
    tokens = []
    renamed = rename is not None and any(
        m.group() == rename[1] and not (start <= m.start() < end) for m in _TOKEN.finditer(text)
    )
    for m in _TOKEN.finditer(text, start, end):
        hit = rename is not None and m.group() == rename[0]
        tokens.append(
            api.TokenScore(
                start=m.start(),
                end=m.end(),
                disagreement=RENAME_DISAGREEMENT if hit else 0.0,
                top=rename[1] if hit and rename is not None else m.group(),
                logprob=math.log(1 - RENAME_DISAGREEMENT) if hit and renamed else 0.0,
            )
        )
    return api.WindowScore(
        score=max((t.disagreement for t in tokens), default=0.0), tokens=tuple(tokens)
    )


def refine_text(text: str) -> str:
    """The fake's rewrite: each integer literal plus one."""
    return re.sub(r"\b\d+\b", lambda m: str(int(m.group()) + 1), text)


class FakeEngine:
    """Implements ``api.Engine`` with exact, instant (or ``step_ms``-paced) answers."""

    def __init__(self, spec: api.ModelSpec, options: FakeOptions) -> None:
        self.spec = spec
        self.options = options
        self.info = api.EngineInfo(
            model=spec.model or "fake", family="masked", device="cpu", dtype="float32"
        )

    def _denoise(self, steps: int | None, cancel: api.CancelToken | None) -> int:
        """Run the step loop; returns the number of steps (nfe)."""
        n = steps or DEFAULT_STEPS
        for _ in range(n):
            if cancel is not None:
                cancel.raise_if_cancelled()
            if self.options.step_ms:
                time.sleep(self.options.step_ms / 1000)
        if cancel is not None:
            cancel.raise_if_cancelled()
        return n

    def infill(
        self, request: api.InfillRequest, cancel: api.CancelToken | None = None
    ) -> api.Result:
        start = time.perf_counter()
        nfe = self._denoise(request.steps, cancel)
        tail = " (" if self.options.junk else ""
        cands = tuple(
            api.Candidate(
                text=infill_text(request, i, self.options.rename) + tail,
                confidence=(1.0 - 0.1 * i,),
                length=4,
            )
            for i in range(max(1, request.alternatives))
        )
        return _result(cands, nfe, start)

    def refine(
        self, request: api.RefineRequest, cancel: api.CancelToken | None = None
    ) -> api.Result:
        start = time.perf_counter()
        nfe = self._denoise(request.steps, cancel)
        tail = " (" if self.options.junk else ""
        cand = api.Candidate(text=refine_text(request.text) + tail, confidence=(1.0,), length=4)
        return _result((cand,), nfe, start)

    def score(
        self, request: api.ScoreRequest, cancel: api.CancelToken | None = None
    ) -> api.ScoreResult:
        start = time.perf_counter()
        nfe = self._denoise(None, cancel)
        windows = tuple(
            score_window(request.text, a, b, self.options.rename) for a, b in request.windows
        )
        ms = (time.perf_counter() - start) * 1000
        return api.ScoreResult(
            windows=windows, nfe=nfe, timings=api.Timings(denoise_ms=ms, total_ms=ms)
        )


def _result(cands: tuple[api.Candidate, ...], nfe: int, start: float) -> api.Result:
    ms = (time.perf_counter() - start) * 1000
    return api.Result(
        text=cands[0].text,
        confidence=cands[0].confidence,
        nfe=nfe,
        timings=api.Timings(denoise_ms=ms, total_ms=ms),
        alternatives=cands,
    )


def load_fake_engine(
    spec: api.ModelSpec, progress: Callable[[str, float | None], None] | None = None
) -> FakeEngine:
    """Same signature as ``diffusion_lsp.engine.load_engine``; raises ``ModelLoadError`` on ``fail``."""
    options = FakeOptions.parse(spec.model)
    for part in range(10):
        if progress is not None:
            progress("loading the fake model", part / 10)
        if options.load_ms:
            time.sleep(options.load_ms / 10000)
    if options.fail:
        raise api.ModelLoadError(options.fail, "this is the fake engine's configured failure")
    return FakeEngine(spec, options)
