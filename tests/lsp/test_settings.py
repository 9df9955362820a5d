"""The settings: typed defaults, camelCase keys, lenient parsing with warnings."""

from __future__ import annotations

from diffusion_lsp.lsp import settings


def test_defaults_and_camel_case_keys():
    parsed, warnings = settings.parse(
        {
            "model": "/m",
            "maxTokens": 64,
            "inline": {"invoked": {"steps": 40}},
            "diagnostics": {"enabled": False},
        }
    )
    assert warnings == []
    assert parsed.model == "/m" and parsed.max_tokens == 64
    assert parsed.inline.invoked.steps == 40
    assert parsed.inline.invoked.max_tokens == settings.Settings().inline.invoked.max_tokens
    assert parsed.inline.automatic == settings.Settings().inline.automatic
    assert parsed.diagnostics.enabled is False
    assert settings.parse(None) == (settings.Settings(), [])
    assert settings.parse({"diffusionLsp": {"steps": 3}})[0].steps == 3


def test_a_bad_value_gets_a_warning_and_its_default():
    parsed, warnings = settings.parse(
        {
            "steps": "many",
            "dtype": "int3",
            "device": "gpu0",
            "alternatives": 0,
            "trustRemoteCode": "yes",
            "inline": {"automatic": {"maxTokens": True}},
            "diagnostics": 5,
            "colour": "blue",
            "revision": "v1",
        }
    )
    default = settings.Settings()
    assert parsed == settings.Settings(revision="v1")
    assert parsed.trust_remote_code is False and default.trust_remote_code is False
    joined = "\n".join(warnings)
    for key in (
        "steps",
        "dtype",
        "device",
        "alternatives",
        "trustRemoteCode",
        "inline.automatic.maxTokens",
        "diagnostics",
        "colour",
    ):
        assert f"diffusionLsp.{key}:" in joined
    assert len(warnings) == 8
    assert settings.parse([1, 2])[1] == [
        "diffusionLsp: expected an object, got list; using defaults"
    ]


def test_model_spec_follows_the_model_settings():
    spec = settings.parse(
        {"model": "m", "dtype": "bfloat16", "device": "cuda:1", "trustRemoteCode": True}
    )[0].model_spec()
    assert (spec.model, spec.dtype, spec.device, spec.trust_remote_code) == (
        "m",
        "bfloat16",
        "cuda:1",
        True,
    )
    assert settings.Settings().model_spec().model is None


def test_inline_gate_settings_parse_and_bad_values_keep_their_defaults():
    parsed, warnings = settings.parse(
        {
            "inline": {
                "minConfidence": 0.7,
                "languages": ["python", "javascript"],
                "debounce": {"minMs": 20, "maxMs": 250},
            }
        }
    )
    assert warnings == []
    assert parsed.inline.min_confidence == 0.7
    assert parsed.inline.languages == ("python", "javascript")
    assert (parsed.inline.debounce.min_ms, parsed.inline.debounce.max_ms) == (20, 250)
    default = settings.Settings().inline
    assert default.min_confidence == 0.5 and default.languages == ()
    assert (default.debounce.min_ms, default.debounce.max_ms) == (0, 500)
    parsed, warnings = settings.parse(
        {
            "inline": {
                "minConfidence": 1.5,
                "languages": "python",
                "debounce": {"minMs": -1, "maxMs": "fast"},
            }
        }
    )
    assert parsed.inline == default
    joined = "\n".join(warnings)
    for key in ("minConfidence", "languages", "debounce.minMs", "debounce.maxMs"):
        assert f"diffusionLsp.inline.{key}:" in joined
    assert len(warnings) == 4
    assert settings.parse({"inline": {"languages": ["python", 3, ""]}})[1] == [
        'diffusionLsp.inline.languages: expected a list of non-empty strings, got ["python", 3, ""];'
        " using the default []"
    ]


def test_remote_settings_become_the_model_specs_remote_and_empty_url_means_local():
    from diffusion_lsp.engine.api import RemoteSpec

    local, warnings = settings.parse({"remote": {"model": "m"}})
    assert warnings == [] and local.model_spec().remote is None
    raw = {
        "remote": {
            "url": "https://models.example.com/v1",
            "model": "google/diffusiongemma-26B-A4B-it",
            "apiKeyEnv": "TEAM_KEY",
            "mode": "fim",
            "fimPath": "/infill",
            "timeoutMs": 2500,
        }
    }
    parsed, warnings = settings.parse(raw)
    assert warnings == []
    assert parsed.model_spec().remote == RemoteSpec(
        url="https://models.example.com/v1",
        model="google/diffusiongemma-26B-A4B-it",
        api_key_env="TEAM_KEY",
        mode="fim",
        fim_path="/infill",
        timeout_s=2.5,
    )
    bad, warnings = settings.parse({"remote": {"url": "ftp://x", "mode": "x", "apiKeyEnv": "a b"}})
    assert bad.remote == settings.RemoteSettings() and len(warnings) == 3


def test_next_edit_settings_parse_and_bad_values_keep_their_defaults():
    default = settings.Settings().next_edit
    assert (default.enabled, default.threshold, default.pause_ms, default.max_windows) == (
        True,
        0.5,
        800,
        16,
    )
    wire = {"nextEdit": {"enabled": False, "threshold": 0.8, "pauseMs": 50, "maxWindows": 4}}
    parsed, warnings = settings.parse(wire)
    assert warnings == []
    assert (parsed.next_edit.enabled, parsed.next_edit.threshold) == (False, 0.8)
    assert (parsed.next_edit.pause_ms, parsed.next_edit.max_windows) == (50, 4)
    assert settings.to_wire(parsed)["nextEdit"] == wire["nextEdit"]
    parsed, warnings = settings.parse({"nextEdit": {"threshold": 2, "maxWindows": 0}})
    assert parsed.next_edit == default
    assert [w.split(":")[0] for w in warnings] == [
        "diffusionLsp.nextEdit.threshold",
        "diffusionLsp.nextEdit.maxWindows",
    ]
