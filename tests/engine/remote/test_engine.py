"""The remote backend against a real llama.cpp server on loopback: each mode gives what a direct
request to the same server gives, cancellation closes the connection, and failures are EngineErrors
with the server's message."""

from __future__ import annotations

import json
import threading
import time
import urllib.request

import pytest

from diffusion_lsp.engine import load_engine
from diffusion_lsp.engine.api import (
    Cancelled,
    CancelToken,
    EngineError,
    InfillRequest,
    ModelLoadError,
    ModelSpec,
    RefineRequest,
    RemoteSpec,
    ScoreRequest,
)
from diffusion_lsp.engine.block.prompt import instruct_message
from diffusion_lsp.engine.remote import RemoteEngine, connect

from .conftest import KEY

PREFIX = "def add(a, b):\n    return "
SUFFIX = "\n\nprint(add(1, 2))\n"


def direct(url: str, path: str, body: dict) -> dict:
    """One request straight to the server, not streamed, with no part of the backend."""
    data = json.dumps(dict(body, stream=False)).encode()
    request = urllib.request.Request(
        url + path, data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def wait_for_log(server, seen, timeout_s: float = 10.0) -> None:
    """Until ``seen(log)`` holds for the server's log (it writes asynchronously)."""
    deadline = time.monotonic() + timeout_s
    while not seen(server.log_text()):
        assert time.monotonic() < deadline, server.log_text()[-2000:]
        time.sleep(0.05)


def engine(llama, mode: str, **kw) -> RemoteEngine:
    spec = RemoteSpec(url=llama.url, mode=mode, fim_path="/v1/completions", **kw)
    out = load_engine(ModelSpec(remote=spec))
    assert isinstance(out, RemoteEngine)
    return out


def infill(eng, **kw):
    fields = dict(prefix=PREFIX, suffix=SUFFIX, max_tokens=12, temperature=0.0, seed=0)
    return eng.infill(InfillRequest(**{**fields, **kw}))


def test_load_engine_with_a_remote_url_connects_and_picks_the_served_model(llama):
    eng = engine(llama, "chat")
    assert eng.model == "tiny"  # the first (only) model GET /v1/models lists
    assert eng.info.device == "remote" and llama.url in eng.info.model


def test_chat_mode_sends_the_instruct_message_and_matches_a_direct_request(llama):
    result = infill(engine(llama, "chat"))
    content = instruct_message(PREFIX, SUFFIX)  # the builder the local instruct mode uses
    want = direct(
        llama.url,
        "/v1/chat/completions",
        {"messages": [{"role": "user", "content": content}], "max_tokens": 12, "temperature": 0},
    )
    assert result.text == want["choices"][0]["message"]["content"]
    assert result.text  # the tiny model never ends its answer early
    assert len(result.confidence) == want["usage"]["completion_tokens"]
    assert all(0.0 < p <= 1.0 for p in result.confidence)


def test_the_preamble_reaches_the_server_in_the_chat_message(llama):
    preamble = "# recent edit: add returns a + b"
    result = infill(engine(llama, "chat"), preamble=preamble)
    content = instruct_message(PREFIX, SUFFIX, preamble)
    assert content.endswith(preamble)
    want = direct(
        llama.url,
        "/v1/chat/completions",
        {"messages": [{"role": "user", "content": content}], "max_tokens": 12, "temperature": 0},
    )
    assert result.text == want["choices"][0]["message"]["content"]


def test_score_is_refused_without_a_request():
    class NoNetwork:
        spec = RemoteSpec(url="http://127.0.0.1:9")
        url = spec.url

        def __getattr__(self, name):
            raise AssertionError(f"score touched the client: {name}")

    eng = RemoteEngine(NoNetwork(), "m")
    with pytest.raises(EngineError, match="local model") as caught:
        eng.score(ScoreRequest("x = 1\n", ((0, 5),)))
    assert caught.value.fix == "unset diffusionLsp.remote.url for next edit."


def test_completions_mode_sends_only_the_prefix(llama):
    result = infill(engine(llama, "completions"))
    want = direct(
        llama.url, "/v1/completions", {"prompt": PREFIX, "max_tokens": 12, "temperature": 0}
    )
    assert result.text == want["choices"][0]["text"]
    other = infill(engine(llama, "completions"), suffix="\n# a different suffix\n")
    assert other.text == result.text  # the suffix does not reach the server


def test_fim_mode_sends_prefix_and_suffix(llama):
    result = infill(engine(llama, "fim"))
    body = {"prompt": PREFIX, "suffix": SUFFIX, "max_tokens": 12, "temperature": 0}
    want = direct(llama.url, "/v1/completions", body)
    assert result.text == want["choices"][0]["text"]
    no_suffix = direct(
        llama.url, "/v1/completions", {"prompt": PREFIX, "max_tokens": 12, "temperature": 0}
    )
    assert want["usage"]["prompt_tokens"] > no_suffix["usage"]["prompt_tokens"]


def test_single_line_stops_at_the_first_newline(llama):
    result = infill(engine(llama, "completions"), single_line=True, max_tokens=64)
    assert "\n" not in result.text


def test_refine_in_chat_mode_shows_the_text_to_rewrite(llama):
    from diffusion_lsp.engine.remote import modes

    result = engine(llama, "chat").refine(
        RefineRequest(PREFIX, "a + b", SUFFIX, max_tokens=8, temperature=0.0)
    )
    _, body = modes.refine_call("chat", "", PREFIX, "a + b", SUFFIX, 2048)
    content = body["messages"][0]["content"]
    assert modes.START + "a + b" + modes.END in content
    want = direct(llama.url, "/v1/chat/completions", dict(body, max_tokens=8, temperature=0))
    assert result.text == want["choices"][0]["message"]["content"] and result.text


def test_cancel_closes_the_connection_and_the_server_stops(llama):
    eng = engine(llama, "completions")
    cancel = CancelToken()
    done: dict = {}

    def run():
        try:
            done["result"] = eng.infill(
                InfillRequest(PREFIX, "", max_tokens=3000, temperature=0.0), cancel
            )
        except BaseException as exc:  # noqa: BLE001 - inspected below
            done["error"] = exc
        done["at"] = time.monotonic()

    before = llama.log_text().count("Disconnected from client")
    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(0.5)  # the server is streaming by now
    cancelled_at = time.monotonic()
    cancel.cancel("superseded")
    thread.join(10)
    assert isinstance(done.get("error"), Cancelled), done
    assert done["at"] - cancelled_at < 0.5
    # the server notices the closed connection at its next chunk and stops generating
    wait_for_log(llama, lambda log: log.count("Disconnected from client") > before)
    assert infill(eng).text  # the next request is served


def test_a_cancel_before_the_request_sends_nothing(llama):
    cancel = CancelToken()
    cancel.cancel()
    with pytest.raises(Cancelled):
        engine(llama, "chat").infill(InfillRequest(PREFIX, SUFFIX), cancel)


def test_server_down_is_a_load_error_that_names_the_url():
    from diffusion_lsp.engine.testing.llama_server import free_port

    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ModelLoadError, match="could not connect to " + url):
        connect(RemoteSpec(url=url, timeout_s=2))


def test_server_that_goes_down_gives_an_engine_error(tmp_path_factory):
    from .conftest import _start

    server = _start(tmp_path_factory, None)
    eng = connect(RemoteSpec(url=server.url, mode="completions", timeout_s=5))
    server.stop()
    with pytest.raises(EngineError, match="could not connect|connection to"):
        eng.infill(InfillRequest(PREFIX, SUFFIX, max_tokens=4))


def test_wrong_key_is_a_load_error_with_the_servers_message(keyed_llama, monkeypatch):
    monkeypatch.setenv("REMOTE_TEST_KEY", "wrong")
    with pytest.raises(ModelLoadError, match="401") as info:
        connect(RemoteSpec(url=keyed_llama.url, api_key_env="REMOTE_TEST_KEY"))
    assert "wrong" not in str(info.value)  # the key is never in a message
    assert "apiKeyEnv" in info.value.fix


def test_right_key_from_the_environment_works(keyed_llama, monkeypatch):
    monkeypatch.setenv("REMOTE_TEST_KEY", KEY)
    eng = connect(RemoteSpec(url=keyed_llama.url, api_key_env="REMOTE_TEST_KEY", mode="chat"))
    assert eng.infill(InfillRequest(PREFIX, SUFFIX, max_tokens=4, temperature=0.0)).text
    assert KEY not in repr(eng.spec) and KEY not in eng.info.model


def test_a_stream_that_fails_on_the_server_is_an_engine_error(llama):
    eng = engine(llama, "completions")
    # More tokens than the server's context (4096) holds: llama-cpp-python answers 200 and ends
    # the stream with no event (its log has the reason); the backend must not return empty text.
    with pytest.raises(EngineError, match="ended its stream without an answer") as info:
        eng.infill(InfillRequest("x = 1\n" * 3000, "", max_tokens=8, context_tokens=100000))
    assert "contextTokens" in info.value.fix
    wait_for_log(llama, lambda log: "exceed context window" in log)


def test_slow_server_times_out(misbehaving):
    start = time.monotonic()
    with pytest.raises(ModelLoadError, match="did not answer within 0.5 s"):
        connect(RemoteSpec(url=misbehaving + "/slow", timeout_s=0.5))
    assert time.monotonic() - start < 3


def test_garbage_and_errors_are_engine_errors(misbehaving):
    with pytest.raises(ModelLoadError, match="not JSON"):
        connect(RemoteSpec(url=misbehaving + "/garbage"))
    with pytest.raises(ModelLoadError, match="503: the model is still loading"):
        connect(RemoteSpec(url=misbehaving + "/error"))


def test_a_stream_of_garbage_is_an_engine_error(misbehaving):
    eng = connect(RemoteSpec(url=misbehaving + "/stream-garbage", mode="completions"))
    with pytest.raises(EngineError, match="not JSON"):
        eng.infill(InfillRequest(PREFIX, SUFFIX, max_tokens=4))


def test_a_key_over_plain_http_to_another_host_is_refused(monkeypatch):
    monkeypatch.setenv("REMOTE_TEST_KEY", KEY)
    with pytest.raises(ModelLoadError, match="clear text"):
        connect(RemoteSpec(url="http://models.example.com", api_key_env="REMOTE_TEST_KEY"))
    monkeypatch.delenv("REMOTE_TEST_KEY")
    with pytest.raises(ModelLoadError, match="REMOTE_TEST_KEY.*not set"):
        connect(RemoteSpec(url="https://models.example.com", api_key_env="REMOTE_TEST_KEY"))


def test_doctor_checks_the_endpoint_and_lists_its_models(llama, capsys):
    from diffusion_lsp.cli import main

    assert main(["doctor", "--remote-url", llama.url + "/v1"]) == 0
    out = capsys.readouterr().out
    assert "remote models:" in out and "tiny" in out and "loopback" in out
    assert main(["doctor", "--remote-url", llama.url, "--remote-model", "other"]) == 1
    assert "'other' is not among" in capsys.readouterr().out


def test_doctor_reports_a_server_that_is_down(capsys):
    from diffusion_lsp.cli import main
    from diffusion_lsp.engine.testing.llama_server import free_port

    assert main(["doctor", "--remote-url", f"http://127.0.0.1:{free_port()}"]) == 1
    assert "PROBLEM: could not connect" in capsys.readouterr().out
