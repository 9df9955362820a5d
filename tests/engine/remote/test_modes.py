"""What each remote mode sends and how answers of each endpoint are read (no server needed)."""

from __future__ import annotations

import math

import pytest

from diffusion_lsp.engine.block.prompt import HOLE, INSTRUCTION, PREAMBLE_HEADING, instruct_message
from diffusion_lsp.engine.remote import modes
from diffusion_lsp.engine.remote.http import base_url, is_loopback, server_message

PREFIX, SUFFIX = "x = 1\ny = ", "\nprint(y)\n"


def test_chat_sends_the_one_instruct_builder():
    path, body = modes.infill_call("chat", "/v1/fim/completions", PREFIX, SUFFIX, 2048)
    assert path == "/v1/chat/completions"
    content = body["messages"][0]["content"]
    assert content == instruct_message(PREFIX, SUFFIX)
    assert content.startswith(INSTRUCTION.format(hole=HOLE))
    assert PREFIX + HOLE + SUFFIX in content


def test_completions_sends_the_prefix_and_fim_both_in_either_shape():
    assert modes.infill_call("completions", "", PREFIX, SUFFIX, 2048) == (
        "/v1/completions",
        {"prompt": PREFIX},
    )
    assert modes.infill_call("fim", "/v1/fim/completions", PREFIX, SUFFIX, 2048) == (
        "/v1/fim/completions",
        {"prompt": PREFIX, "suffix": SUFFIX},
    )
    assert modes.infill_call("fim", "/infill", PREFIX, SUFFIX, 2048) == (
        "/infill",
        {"input_prefix": PREFIX, "input_suffix": SUFFIX},
    )


def test_context_is_windowed_to_the_budget_nearest_lines_first():
    prefix = "".join(f"line_{i} = {i}\n" for i in range(1000)) + "z = "
    _, body = modes.infill_call("completions", "", prefix, "", 64)
    kept = body["prompt"]
    assert prefix.endswith(kept) and kept.endswith("line_999 = 999\nz = ")
    assert modes.approx_tokens([kept])[0] <= 64


def test_refine_puts_the_region_between_markers_in_chat_only():
    _, body = modes.refine_call("chat", "", PREFIX, "2", SUFFIX, 2048)
    content = body["messages"][0]["content"]
    assert PREFIX + modes.START + "2" + modes.END + SUFFIX in content
    assert modes.refine_call("fim", "/v1/completions", PREFIX, "2", SUFFIX, 2048) == (
        modes.infill_call("fim", "/v1/completions", PREFIX, SUFFIX, 2048)
    )


def test_sampling_fields_per_endpoint():
    chat = modes.sampling({}, "/v1/chat/completions", "m", 16, 0.0, 3, True)
    assert chat == {
        "stream": True,
        "max_tokens": 16,
        "model": "m",
        "temperature": 0.0,
        "seed": 3,
        "stop": ["\n"],
        "logprobs": True,
        "top_logprobs": 1,
    }
    assert modes.sampling({}, "/v1/completions", "", 8, None, None, False) == {
        "stream": True,
        "max_tokens": 8,
        "logprobs": 1,
    }
    assert modes.sampling({}, "/infill", "", 8, None, None, False)["n_predict"] == 8


@pytest.mark.parametrize(
    "events, text, probs",
    [
        (  # chat, streamed
            [
                {"choices": [{"delta": {"role": "assistant"}}]},
                {
                    "choices": [
                        {"delta": {"content": "a"}, "logprobs": {"content": [{"logprob": -0.5}]}}
                    ]
                },
                {"choices": [{"delta": {"content": "b"}, "finish_reason": "length"}]},
            ],
            "ab",
            [math.exp(-0.5)],
        ),
        (  # completions, streamed
            [
                {"choices": [{"text": "x", "logprobs": {"token_logprobs": [-1.0]}}]},
                {
                    "choices": [
                        {
                            "text": "y",
                            "logprobs": {"token_logprobs": [0.0]},
                            "finish_reason": "stop",
                        }
                    ]
                },
            ],
            "xy",
            [math.exp(-1.0), 1.0],
        ),
        (  # llama.cpp /infill
            [{"content": "q", "stop": False}, {"content": "r", "stop": True, "stop_type": "eos"}],
            "qr",
            [],
        ),
    ],
)
def test_answers_of_each_endpoint(events, text, probs):
    answer = modes.Answer()
    for event in events:
        answer.add(event)
    assert answer.text == text
    assert answer.probs == pytest.approx(probs)
    assert answer.finish is not None


def test_an_event_without_choices_is_refused():
    with pytest.raises(ValueError):
        modes.Answer().add({"object": "something else"})


def test_urls_and_messages():
    assert base_url("http://h:8000/v1/") == base_url("http://h:8000") == "http://h:8000"
    assert is_loopback("http://127.0.0.1:1") and is_loopback("http://localhost")
    assert is_loopback("http://[::1]:8000") and not is_loopback("http://10.0.0.2")
    assert server_message('{"error": {"message": "bad model"}}') == "bad model"
    assert server_message('{"detail": "Not Found"}') == "Not Found"
    assert server_message("plain text") == "plain text"


PREAMBLE = "# recent edit: renamed count to total"


def test_the_preamble_ends_the_chat_message_and_starts_the_completion_prompt():
    _, body = modes.infill_call("chat", "", PREFIX, SUFFIX, 2048, PREAMBLE)
    content = body["messages"][0]["content"]
    assert content == instruct_message(PREFIX, SUFFIX, PREAMBLE)
    assert content.endswith(f"{PREAMBLE_HEADING}\n{PREAMBLE}")
    assert content.startswith(instruct_message(PREFIX, SUFFIX))  # the code part as without it
    _, body = modes.refine_call("chat", "", PREFIX, "2", SUFFIX, 2048, PREAMBLE)
    assert body["messages"][0]["content"].endswith(f"{PREAMBLE_HEADING}\n{PREAMBLE}")
    assert modes.infill_call("completions", "", PREFIX, SUFFIX, 2048, PREAMBLE) == (
        "/v1/completions",
        {"prompt": PREAMBLE + "\n" + PREFIX},
    )
    assert modes.infill_call("fim", "/infill", PREFIX, SUFFIX, 2048, PREAMBLE)[1] == {
        "input_prefix": PREAMBLE + "\n" + PREFIX,
        "input_suffix": SUFFIX,
    }


def test_the_preamble_is_never_windowed():
    prefix = "".join(f"line_{i} = {i}\n" for i in range(1000)) + "z = "
    long = "".join(f"# edit {i}\n" for i in range(100))
    _, body = modes.infill_call("completions", "", prefix, "", 16, long)
    assert body["prompt"].startswith(long) and body["prompt"].endswith("z = ")
