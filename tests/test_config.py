"""Config loading and validation: every error names the key, the bad value and what is allowed."""
import pytest

from pipeline.config import load_config, parse_set
from pipeline.registry import ConfigError, build, registered


def test_ready_configs_load():
    for name in ("default", "fast", "line", "digits"):
        config = load_config(f"configs/{name}.yaml")
        assert config["recognize"]["type"] == "crnn"
        assert config["runtime"]["threads"] >= 1
    assert load_config("configs/line.yaml")["detect"]["type"] == "whole"
    assert load_config("configs/fast.yaml")["decode"]["type"] == "greedy"


def test_set_and_keyword_overrides_merge_into_sections():
    config = load_config("configs/default.yaml", ["decode.allowed_chars='0123'", "runtime.threads=1"],
                         recognize={"batch_size": 4})
    assert config["decode"]["allowed_chars"] == "0123"
    assert config["runtime"]["threads"] == 1
    assert config["recognize"]["batch_size"] == 4
    assert config["recognize"]["weights"].endswith("crnn_zh_en.onnx")  # untouched keys stay
    assert parse_set("detect.pad_ratio=0.2") == {"detect": {"pad_ratio": 0.2}}
    assert parse_set("decode.allowed_chars=0123456789") == {"decode": {"allowed_chars": "0123456789"}}
    assert parse_set("decode.beam_width=16") == {"decode": {"beam_width": 16}}


@pytest.mark.parametrize("bad", ["nokey", "=3"])
def test_malformed_set_is_rejected(bad):
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        load_config("configs/default.yaml", [bad])


def test_unknown_section_and_runtime_key():
    with pytest.raises(ConfigError, match=r"decoder: unknown config section; allowed: detect, orient"):
        load_config("configs/default.yaml", ["decoder.type=greedy"])
    with pytest.raises(ConfigError, match=r"runtime\.thread: unknown key; allowed: threads"):
        load_config("configs/default.yaml", ["runtime.thread=2"])
    with pytest.raises(ConfigError, match=r"runtime\.threads: expected a positive integer, got 0"):
        load_config("configs/default.yaml", ["runtime.threads=0"])


def test_overriding_a_type_drops_the_old_types_parameters():
    base = {"detect": {"type": "contour", "gap_ratio": 2.0}, "orient": {"type": "none"},
            "recognize": {"type": "crnn"}, "decode": {"type": "beam_lm", "alpha": 0.7}}
    config = load_config(base, ["decode.type=greedy", "decode.allowed_chars=0123"], detect={"gap_ratio": 1.5})
    assert config["decode"] == {"type": "greedy", "allowed_chars": "0123"}
    assert config["detect"] == {"type": "contour", "gap_ratio": 1.5}


def test_unknown_type_lists_the_known_ones():
    config = load_config("configs/default.yaml", ["detect.type=dbnet_xl"])
    with pytest.raises(ConfigError) as err:
        build("detect", config["detect"])
    assert "'dbnet_xl'" in str(err.value) and "contour" in str(err.value) and "whole" in str(err.value)
    assert "contour" in registered("detect")


def test_unknown_stage_parameter_lists_the_allowed_ones():
    with pytest.raises(ConfigError) as err:
        build("recognize", {"type": "crnn", "beam": 3})
    message = str(err.value)
    assert message.startswith("recognize.beam: unknown parameter") and "max_width" in message


def test_missing_weights_file_is_named():
    with pytest.raises(ConfigError, match=r"recognize\.weights: file not found: models/weights/nope\.onnx"):
        build("recognize", {"type": "crnn", "weights": "models/weights/nope.onnx"})


def test_import_path_type_plugs_in_a_user_stage():
    stage = build("orient", {"type": "tests.plugin_stage:UpsideDown", "angle": 180})
    assert stage([object(), object()]) == [180, 180]
    with pytest.raises(ConfigError, match="cannot import 'tests.nothing_here:X'"):
        build("orient", {"type": "tests.nothing_here:X"})


def test_bad_stage_value_is_a_config_error():
    with pytest.raises(ConfigError, match=r"decode\.allowed_chars: '☃' not in the recognizer's charset"):
        build("decode", {"type": "greedy", "allowed_chars": "12☃"}, charset=list("0123456789"))
