"""The sections of the settings (``inline``, ``nextEdit``, ``diagnostics``, ``trace``, ``remote``,
...) and the ``setting`` field helper; the top level, parsing and export are in ``settings.py``."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any

from diffusion_lsp.engine import api

SECTION = "diffusionLsp"


def setting(default: Any, doc: str, **constraints: Any) -> Any:
    """A settings field: its default, a description, and JSON-Schema constraints
    (``enum``, ``minimum``, ``maximum``, ``pattern``), which parsing enforces too."""
    meta = {"doc": doc, **constraints}
    if isinstance(default, (dict, list)) or dataclasses.is_dataclass(default):
        return field(default_factory=lambda: default, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class TriggerBudget:
    """How much work one inline completion may take."""

    steps: int = setting(8, "Denoising steps per completion.", minimum=1, maximum=512)
    max_tokens: int = setting(
        32, "Largest hole (in tokens) tried at the cursor.", minimum=1, maximum=1024
    )
    search_length: bool = setting(
        True,
        "Try several hole lengths (4, 8 and 16 tokens for one line) and keep the most confident "
        "of each. Off: one hole, the longest of them, for a model that fills a hole's unused end "
        "with its null token (the embedded model; a third of the work on a CPU); other models "
        "search all the same.",
    )


@dataclass(frozen=True)
class DebounceSettings:
    """How long an automatic inline request waits for typing to pause."""

    min_ms: int = setting(
        0,
        "Shortest pause after the last change before an automatic suggestion is computed.",
        minimum=0,
        maximum=5000,
    )
    max_ms: int = setting(
        500,
        "Longest pause an automatic suggestion waits for. Between the two, the wait adapts to "
        "your typing: 1.5 times your usual interval between changes to the document (the median "
        "of the last 8, pauses over 2 s left out), counted from the last change. A newer request "
        "for the document supersedes a waiting one, so while you type at your pace no new "
        "suggestion appears; one comes once you pause. 0: no wait.",
        minimum=0,
        maximum=5000,
    )


@dataclass(frozen=True)
class InlineSettings:
    """Inline (ghost-text) completion."""

    automatic: TriggerBudget = setting(
        TriggerBudget(steps=8, max_tokens=24, search_length=False),
        "Budget of completions the editor asks for while you type: small, so they come fast.",
    )
    invoked: TriggerBudget = setting(
        TriggerBudget(steps=24, max_tokens=128),
        "Budget of completions you ask for explicitly (a key binding): more steps, longer holes.",
    )
    max_lines: int = setting(
        12, "Most lines an inline completion may span.", minimum=1, maximum=200
    )
    min_confidence: float = setting(
        0.5,
        "Automatic suggestions whose confidence (the mean probability the model gave their "
        "tokens) is below this are not shown. The default comes from the embedded model on "
        "held-out Python lines (docs/benchmarks.md, 'Inline confidence floor'): 0.5 is the "
        "highest floor that kept every exactly right suggestion, in two samples of about 250 "
        "requests; it hid 62% of the suggestions, two thirds of those that do not parse, and 43% "
        "of the wrong first ghosts. Raise it for fewer, better ghosts; 0: show everything. "
        "Explicit requests (the trigger key) are not filtered.",
        minimum=0.0,
        maximum=1.0,
    )
    languages: tuple[str, ...] = setting(
        (),
        "Language ids (as the editor names them: python, javascript, ...) that get automatic "
        "suggestions. Empty: the languages the model was trained on (the embedded model: python "
        "only; a model that does not say: all). '*': every language. Explicit requests (the "
        "trigger key) work in any language.",
    )
    debounce: DebounceSettings = setting(DebounceSettings(), "Waiting for a pause in typing.")


@dataclass(frozen=True)
class NextEditSettings:
    """Next edit: after you pause, the edit that follows from your last ones (docs/next-edit.md)."""

    enabled: bool = setting(
        True,
        "Suggest the next edit (textDocument/copilotInlineEdit, the 'Apply next edit' code action "
        "and the diffusionLsp.nextEdit command).",
    )
    threshold: float = setting(
        0.5,
        "How strongly the model must want to change a place near your last edit (the largest "
        "disagreement of its tokens, 0 to 1; for a use of a name you renamed, how far the rename "
        "moved the model towards the new name there, as a probability, above 0.5 always) before "
        "an edit is suggested there. Raise it for fewer, surer suggestions.",
        minimum=0.0,
        maximum=1.0,
    )
    pause_ms: int = setting(
        800,
        "An automatic request (textDocument/copilotInlineEdit) waits until this long after the "
        "document's last change; a newer request or a change meanwhile supersedes it.",
        minimum=0,
        maximum=10000,
    )
    max_windows: int = setting(
        16,
        "Most places near the last edit that are scored for the next edit, in one batch.",
        minimum=1,
        maximum=128,
    )


@dataclass(frozen=True)
class DiagnosticsSettings:
    """Syntax-error diagnostics from tree-sitter."""

    enabled: bool = setting(
        True, "Publish syntax errors as diagnostics, each with a 'Fix syntax error' quick fix."
    )
    debounce_ms: int = setting(
        150, "Wait this long after the last change before publishing.", minimum=0, maximum=10000
    )


@dataclass(frozen=True)
class TraceSettings:
    """Client-side protocol tracing (the server ignores it)."""

    server: str = setting(
        "off",
        "Log the messages between the editor and the server (read by the client only).",
        enum=["off", "messages", "verbose"],
    )


@dataclass(frozen=True)
class RemoteSettings:
    """An OpenAI-compatible server that runs the model instead of this process (docs/remote.md)."""

    url: str = setting(
        "",
        "Root URL of an OpenAI-compatible server (vLLM, llama.cpp, ...), for example "
        "http://127.0.0.1:8000 or https://models.example.com/v1. Empty: the model runs in this "
        "process and the other remote settings are ignored.",
        pattern=r"^(|https?://\S+)$",
    )
    model: str = setting("", "Model id the server serves. Empty: the first one it lists.")
    api_key_env: str = setting(
        "",
        "Name of the environment variable that holds the API key (sent as a bearer token); the "
        "key itself never goes in settings. Empty: no key. A key is sent over plain http only to "
        "a loopback address.",
        pattern=r"^(|[A-Za-z_][A-Za-z0-9_]*)$",
    )
    mode: str = setting(
        "chat",
        "How a hole is put to the server: chat (the instruction prompt with prefix and suffix, "
        "for instruction-tuned models such as DiffusionGemma -it), completions (the prefix only), "
        "or fim (prefix and suffix, at remote.fimPath).",
        enum=list(api.REMOTE_MODES),
    )
    fim_path: str = setting(
        "/v1/fim/completions",
        "Endpoint of the fim mode: one taking {prompt, suffix} (/v1/fim/completions, or "
        "/v1/completions on llama-cpp-python), or llama.cpp's /infill.",
        pattern=r"^/\S*$",
    )
    timeout_ms: int = setting(
        30000,
        "Longest a request to the server may take, connecting and answering.",
        minimum=100,
        maximum=600000,
    )

    def spec(self) -> api.RemoteSpec | None:
        if not self.url:
            return None
        return api.RemoteSpec(
            url=self.url,
            model=self.model,
            api_key_env=self.api_key_env,
            mode=typing.cast(api.RemoteMode, self.mode),
            fim_path=self.fim_path,
            timeout_s=self.timeout_ms / 1000,
        )
