"""The remote backend's ``api.Engine``: infill and refine as requests to an OpenAI-compatible server
(vLLM serving DiffusionGemma, llama.cpp, any server with the same API).

The server owns the model, its steps and its canvas; a request here is one prompt and one streamed
answer. There is no clamped suffix: the suffix reaches the model only inside the prompt (chat, fim).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from diffusion_lsp.engine.api import (
    Cancelled,
    CancelToken,
    Candidate,
    EngineError,
    EngineInfo,
    InfillRequest,
    RefineRequest,
    RemoteSpec,
    Result,
    ScoreRequest,
    ScoreResult,
    Timings,
)
from diffusion_lsp.engine.block.prompt import strip_fences
from diffusion_lsp.engine.remote import modes
from diffusion_lsp.engine.remote.http import RemoteClient

Progress = Callable[[str, "float | None"], None]


def list_models(client: RemoteClient) -> list[str]:
    """The ids ``GET /v1/models`` lists."""
    body = client.get_json("/v1/models")
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise EngineError(
            f"{client.url}/v1/models answered without a list of models: {str(body)[:80]!r}.",
            "check that `diffusionLsp.remote.url` points at an OpenAI-compatible server.",
        )
    return [str(m.get("id")) for m in data if isinstance(m, dict) and m.get("id")]


class RemoteEngine:
    """Sends each request to the server and reads its streamed answer on the calling thread."""

    def __init__(self, client: RemoteClient, model: str, load_ms: float = 0.0) -> None:
        self.client = client
        self.spec: RemoteSpec = client.spec
        self.model = model
        self.info = EngineInfo(
            model=f"{model} at {client.url}",
            family="block",  # what the server runs is its business; block: no clamped suffix
            device="remote",
            dtype="remote",
            load_ms=load_ms,
        )

    def infill(self, request: InfillRequest, cancel: CancelToken | None = None) -> Result:
        path, body = modes.infill_call(
            self.spec.mode, self.spec.fim_path, request.prefix, request.suffix,
            request.context_tokens, request.preamble,
        )  # fmt: skip
        return self._ask(
            path, body, request.max_tokens, request.temperature, request.seed,
            request.single_line, cancel,
        )  # fmt: skip

    def refine(self, request: RefineRequest, cancel: CancelToken | None = None) -> Result:
        path, body = modes.refine_call(
            self.spec.mode, self.spec.fim_path, request.prefix, request.text, request.suffix,
            request.context_tokens, request.preamble,
        )  # fmt: skip
        return self._ask(
            path, body, request.max_tokens, request.temperature, request.seed, False, cancel
        )

    def score(self, request: ScoreRequest, cancel: CancelToken | None = None) -> ScoreResult:
        """Refused, without a request: an OpenAI-compatible server gives log-probabilities only of
        the tokens it writes, never of existing text, so next edit cannot find its windows."""
        raise EngineError(
            "next edit needs a local model: an OpenAI-compatible server returns no token "
            "probabilities for existing text.",
            "unset diffusionLsp.remote.url for next edit.",
        )

    def close(self) -> None:
        self.client.close()

    def _ask(
        self,
        path: str,
        body: dict,
        max_tokens: int,
        temperature: float | None,
        seed: int | None,
        single_line: bool,
        cancel: CancelToken | None,
    ) -> Result:
        start = time.perf_counter()
        body = modes.sampling(body, path, self.model, max_tokens, temperature, seed, single_line)
        answer = modes.Answer()

        def on_event(event: dict) -> None:
            try:
                answer.add(event)
            except (ValueError, AttributeError, TypeError) as exc:
                raise EngineError(
                    f"{self.client.url}{path} sent an event this backend cannot read ({exc}).",
                    "check that `diffusionLsp.remote.mode` matches what the server offers.",
                ) from None

        self.client.stream(path, body, cancel, on_event)
        if cancel is not None and cancel.cancelled:
            raise Cancelled(cancel.reason)
        text = answer.text
        if self.spec.mode == "chat":
            text = strip_fences(text)
        if single_line:
            text = text.split("\n", 1)[0]
        confidence = tuple(answer.probs)
        total = (time.perf_counter() - start) * 1000
        candidate = Candidate(text, confidence, len(confidence) or max_tokens)
        return Result(
            text=text,
            confidence=confidence,
            nfe=0,  # the server's forward calls are not reported over the API
            timings=Timings(total_ms=total, denoise_ms=total),
            alternatives=(candidate,),
        )


def connect(spec: RemoteSpec, progress: Progress | None = None) -> RemoteEngine:
    """Check the endpoint (``GET /v1/models``, which also checks the key) and pick the model: the
    one ``spec.model`` names, or the first the server lists. Failures are ``ModelLoadError``s."""
    from diffusion_lsp.engine.api import ModelLoadError

    report = progress or (lambda _message, _fraction: None)
    start = time.perf_counter()
    try:
        client = RemoteClient(spec)
        report(f"connecting to {client.url}", 0.0)
        models = list_models(client)
    except EngineError as exc:
        raise ModelLoadError(exc.message, exc.fix) from exc
    model = spec.model
    if not model:
        if not models:
            client.close()
            raise ModelLoadError(
                f"{client.url} lists no models.", "set `diffusionLsp.remote.model`."
            )
        model = models[0]
    elif models and model not in models:
        client.close()
        raise ModelLoadError(
            f"{client.url} does not serve {model!r}; it lists {', '.join(models[:8])}.",
            "set `diffusionLsp.remote.model` to one of those.",
        )
    report("ready", 1.0)
    return RemoteEngine(client, model, (time.perf_counter() - start) * 1000)
