"""Training-side code (needs the `train` extra; skipped without torch): the exported graph equals the packed
BiLSTM, padding changes nothing, the glyph head factorisation is exact, the charset is as specified."""
import numpy as np
import pytest

from models.charset import build_charset, gb2312_hanzi, normalize_label

torch = pytest.importorskip("torch")
from models.crnn import CRNN, ExportableCRNN  # noqa: E402


def test_charset_covers_gb2312_ascii_and_symbols():
    chars = build_charset()
    assert len(gb2312_hanzi()) == 6763 and len(chars) == len(set(chars))
    assert set(gb2312_hanzi()) <= set(chars)
    assert all(chr(c) in chars for c in range(0x20, 0x7F))
    assert {"￥", "·", "、", "。", "《", "》", "“", "”", "±", "×", "÷", "≤", "≥", "≠", "≈", "√", "∑", "π", "°"} <= set(chars)
    assert normalize_label("１２月ＡＢ，（测试）　x") == "12月AB，（测试） x"


def _small(width_strides=(2, 2, 1, 1), head_rank=0) -> CRNN:
    torch.manual_seed(0)
    m = CRNN(50, hidden=16, channels=(4, 8, 8, 8, 16, 16), width_strides=width_strides, head_rank=head_rank).eval()
    for p in m.parameters():  # move BN statistics and weights away from their trivial init
        p.data.add_(torch.randn_like(p) * 0.1)
    return m


@pytest.mark.parametrize("model", [_small(), _small((2, 4, 1, 1), head_rank=6)], ids=["stride4", "stride8-rank6"])
def test_exported_graph_equals_the_packed_bilstm_and_ignores_padding(model):
    x = torch.rand(3, 1, 32, 200)
    widths = torch.tensor([200, 120, 48])
    graph = ExportableCRNN(model).eval()
    with torch.no_grad():
        packed, split = model(x, widths), graph(x, widths)
        assert split.shape[1] == 200 // model.stride
        for i, w in enumerate(widths.tolist()):
            n = w // model.stride
            np.testing.assert_allclose(split[i, :n].numpy(), packed[i, :n].numpy(), atol=1e-5)
            alone = graph(x[i : i + 1, :, :, :w], widths[i : i + 1])[0]
            np.testing.assert_allclose(alone.numpy(), split[i, :n].numpy(), atol=1e-4)


def test_glyph_head_factorisation_reproduces_the_classifier():
    model = _small()
    head = torch.nn.Linear(model.proj.in_features, 50)
    model.init_head_from_glyphs(head)
    feats = torch.randn(5, model.proj.in_features)
    with torch.no_grad():
        np.testing.assert_allclose(model.fc(model.proj(feats)).numpy(), head(feats).numpy(), atol=1e-4)


def test_shrinking_drops_only_what_the_network_does_not_use():
    """Channels switched off (filter, gamma and beta zero) are the ones pruned, and a head of rank 5 factors exactly
    through a bottleneck of 5: the cut network computes what the full one did."""
    from models.shrink_crnn import shrink

    full = _small()
    with torch.no_grad():
        for k, stage in enumerate(full.cnn.stages):
            for block in stage:
                conv, bn = block[0], block[1]
                off = torch.arange(conv.out_channels) % 4 == 3  # a quarter of each convolution's channels
                conv.weight[off], bn.weight[off], bn.bias[off] = 0, 0, 0
        u, v = torch.randn(50, 5), torch.randn(5, 32)
        full.fc.weight.copy_(u @ v)
    cut = CRNN(50, hidden=16, channels=(3, 6, 6, 6, 12, 12), head_rank=5).eval()
    cut.load_state_dict(shrink(full.state_dict(), full, cut))
    x, widths = torch.rand(2, 1, 32, 96), torch.tensor([96, 64])
    with torch.no_grad():
        for i, w in enumerate(widths.tolist()):
            np.testing.assert_allclose(cut(x, widths)[i, : w // 4].numpy(), full(x, widths)[i, : w // 4].numpy(),
                                       atol=1e-4)


def test_a_stride_8_network_exports_its_stride_for_the_recognizer(tmp_path):
    pytest.importorskip("onnx")
    from models.export_onnx import export
    from stages.recognize import CRNNRecognizer

    charset = [chr(c) for c in range(0x61, 0x61 + 49)]
    m = _small((2, 4, 1, 1), head_rank=6)
    recipe = {"hidden": 16, "channels": [4, 8, 8, 8, 16, 16], "width_strides": [2, 4, 1, 1], "head_rank": 6}
    run = _run_dir(tmp_path / "run", '{"step": 1}', m, recipe=recipe, charset=charset,
                   state={"phase": "lines", "step": 1, "samples": 32, "seconds": 1.0})
    export(run / "last.pt", tmp_path / "s8.onnx")
    recognizer = CRNNRecognizer(str(tmp_path / "s8.onnx"), max_width=256, overlap=64, threads=1)
    assert recognizer.stride == 8
    line, wide = np.random.default_rng(0).integers(0, 255, (32, 203), np.uint8), np.zeros((32, 300), np.uint8)
    alone, batched = recognizer([line])[0], recognizer([line, wide])[0]
    assert alone.shape == (26, 50)  # 203 px -> 208 (a multiple of 8) -> 26 frames
    np.testing.assert_allclose(alone, batched, atol=1e-4)
    with pytest.raises(ValueError, match="multiple of 8"):
        CRNNRecognizer(str(tmp_path / "s8.onnx"), max_width=300, overlap=64)


def test_training_keeps_lines_ctc_can_align():
    from models.train_crnn import ctc_frames_needed

    assert ctc_frames_needed("abc") == 3 and ctc_frames_needed("1100") == 6 and ctc_frames_needed("") == 0


def test_averaged_runs_have_the_mean_weights_and_their_summed_training(tmp_path):
    from models.average import average

    def run(name, seed, step, samples, seconds, init=None):
        torch.manual_seed(seed)
        m = CRNN(6, hidden=8, channels=(4, 4, 4, 4, 8, 8), head_rank=3)
        recipe = {"run_dir": str(tmp_path / name), "hidden": 8, "channels": [4, 4, 4, 4, 8, 8], "head_rank": 3}
        if init:
            recipe["init"] = str(init)
        path = tmp_path / f"{name}.pt"
        torch.save({"model": m.state_dict(), "charset": list("abcde"), "recipe": recipe,
                    "state": {"phase": "lines", "step": step, "samples": samples, "seconds": seconds}}, path)
        return path, m

    start, ms = run("start", 0, 100, 1000, 50.0)
    a, ma = run("a", 1, 30, 1960, 80.0, init=start)
    b, mb = run("b", 2, 20, 1640, 70.0, init=start)
    averaged = average([a, b])
    for name, tensor in averaged["model"].items():
        if tensor.is_floating_point():
            torch.testing.assert_close(tensor, (ma.state_dict()[name] + mb.state_dict()[name]) / 2)
    assert averaged["state"] == {"phase": "lines", "step": 50, "samples": 1000 + 960 + 640, "seconds": 50.0 + 30 + 20}
    assert averaged["recipe"]["init"] == str(start) and len(averaged["recipe"]["average"]) == 2
    CRNN.from_recipe(averaged["recipe"], 6).load_state_dict(averaged["model"])  # the network it describes
    assert "init_weight" not in averaged["recipe"]
    mixed = average([a, b], init_weight=0.5)  # halfway between the start and the runs' mean
    for name, tensor in mixed["model"].items():
        if tensor.is_floating_point():
            torch.testing.assert_close(tensor, ms.state_dict()[name] / 2 + averaged["model"][name] / 2)
    assert mixed["recipe"]["init_weight"] == 0.5 and mixed["state"] == averaged["state"]
    with pytest.raises(ValueError, match="init-weight"):
        average([a, b], init_weight=1.0)
    other, _ = run("other", 3, 10, 1100, 60.0)  # not started from the same weights
    with pytest.raises(ValueError, match="init"):
        average([a, other])
    with pytest.raises(ValueError, match="init"):
        average([other, a])


def _as_trained(model: torch.nn.Module) -> None:
    """Move weights and batch-norm statistics off their initial values, as training does."""
    for name, t in model.state_dict().items():
        if t.is_floating_point():
            t.add_(torch.rand_like(t) * 0.5 if "running_var" in name else torch.randn_like(t) * 0.3)


def _run_dir(run, log_line: str, model: torch.nn.Module, recipe: dict, state: dict, **extra):
    """A run directory as the trainers leave it: last.pt (recipe naming the run) and a one-entry log.jsonl."""
    run.mkdir()
    (run / "log.jsonl").write_text(log_line + "\n")
    torch.save({"model": model.state_dict(), "recipe": {"run_dir": str(run), **recipe}, "state": state, **extra},
               run / "last.pt")
    return run


def test_the_shipped_graph_rebuilds_into_a_checkpoint_that_trains_on(tmp_path):
    """ONNX (batch norms folded, LSTM in ONNX's gate order) -> the same model, its batch norms calibrated on the
    lines given, and a card that goes on from the shipped one's recipes and learning curve."""
    pytest.importorskip("onnx")
    from models.export_onnx import export
    from models.from_onnx import rebuild

    torch.manual_seed(0)
    m = CRNN(6, hidden=8, channels=(4, 4, 4, 4, 8, 8))
    _as_trained(m)
    run = _run_dir(tmp_path / "run", '{"step": 10, "cer_synth_zh": 0.5}', m, charset=list("abcde"),
                   recipe={"hidden": 8, "channels": [4, 4, 4, 4, 8, 8]},
                   state={"phase": "lines", "step": 10, "samples": 320, "seconds": 36.0})
    shipped = tmp_path / "weights" / "tiny.onnx"
    export(run / "last.pt", shipped)

    lines = [(torch.rand(4, 1, 32, 96), torch.tensor([96, 80, 64, 40])) for _ in range(3)]
    ckpt = rebuild(shipped, tmp_path / "again", batches=lines)
    back = CRNN(6, hidden=8, channels=(4, 4, 4, 4, 8, 8))
    back.load_state_dict(ckpt["model"])
    m.eval(), back.eval()
    x, widths = torch.rand(2, 1, 32, 120), torch.tensor([120, 52])
    with torch.no_grad():
        np.testing.assert_allclose(back(x, widths).numpy(), m(x, widths).numpy(), atol=1e-4)
        first = back.cnn.stages[0][0]  # its batch norm now holds the statistics of the convolution's output
        conv_out = torch.cat([first[0](back.cnn._mask(x, w)) for x, w in lines])
        np.testing.assert_allclose(first[1].running_mean.numpy(), conv_out.mean(dim=(0, 2, 3)).numpy(), atol=1e-4)
    assert ckpt["state"] == {"phase": "lines", "step": 10, "samples": 320, "seconds": 36.0}
    assert ckpt["charset"] == list("abcde") and len(ckpt["learning_curve"]) == 1

    (tmp_path / "again").mkdir()
    torch.save(ckpt, tmp_path / "again" / "last.pt")
    export(tmp_path / "again" / "last.pt", tmp_path / "again.onnx")
    card = __import__("json").loads((tmp_path / "again.card.json").read_text())
    assert [r["run_dir"] for r in card["recipes"]] == [str(run), str(tmp_path / "again")]
    assert not any("earlier" in r for r in card["recipes"])  # each recipe listed once, not again inside the next
    assert card["learning_curve"] == [{"step": 10, "cer_synth_zh": 0.5}]


def test_a_run_ends_at_its_steps_or_its_hours_whichever_comes_first():
    from models.train_crnn import progress

    steps = {"steps": 1000}
    assert progress(steps, 250, 1e9) == 0.25 and progress(steps, 1000, 0) == 1.0  # no max_hours: the clock is ignored
    lease = {"steps": 1000, "max_hours": 0.5}
    assert progress(lease, 100, 900) == 0.5  # half the hours before a tenth of the steps
    assert progress(lease, 800, 900) == 0.8 and progress(lease, 100, 1800) == 1.0


def test_the_shipped_detector_rebuilds_with_its_threshold_head_grown_from_the_probability_head(tmp_path):
    pytest.importorskip("onnx")
    from models.dbnet import DBNet
    from models.export_db import export
    from models.from_onnx import rebuild

    torch.manual_seed(0)
    arch = {"channels": [4, 8, 8, 8, 8], "depth": [1, 1, 1, 1], "neck": 8}
    m = DBNet(tuple(arch["channels"]), tuple(arch["depth"]), arch["neck"])
    _as_trained(m)
    run = _run_dir(tmp_path / "db", '{"step": 5, "val": {"hmean": 0.5}}', m, recipe={"model": arch, "size": 64},
                   state={"step": 5, "samples": 40, "seconds": 7.2, "best_hmean": 0.5})
    export(run / "last.pt", tmp_path / "db.onnx")

    pages = [(torch.rand(2, 3, 64, 64),) for _ in range(2)]
    ckpt = rebuild(tmp_path / "db.onnx", tmp_path / "again", batches=pages)
    back = DBNet(tuple(arch["channels"]), tuple(arch["depth"]), arch["neck"])
    back.load_state_dict(ckpt["model"])
    x = torch.rand(1, 3, 96, 64)
    with torch.no_grad():
        np.testing.assert_allclose(back.eval()(x).numpy(), m.eval()(x).numpy(), atol=1e-5)
    for name, t in back.thresh.state_dict().items():
        torch.testing.assert_close(t, back.prob.state_dict()[name])
    assert ckpt["state"]["samples"] == 40 and ckpt["recipe"]["model"] == arch and "init" not in ckpt["recipe"]
    assert ckpt["learning_curve"][0]["val"] == {"hmean": 0.5}


def test_the_shipped_orientation_classifier_rebuilds(tmp_path):
    pytest.importorskip("onnx")
    from models.from_onnx import rebuild
    from models.orient_net import OrientNet
    from models.train_orient import export

    torch.manual_seed(0)
    m = OrientNet((4, 4, 8, 8), 8)
    _as_trained(m)
    run = _run_dir(tmp_path / "orient", '{"step": 3, "val": {"all": 0.5}}', m,
                   recipe={"channels": [4, 4, 8, 8], "hidden": 8}, state={"step": 3, "samples": 192, "seconds": 3.6})
    export(run / "last.pt", tmp_path / "orient.onnx")
    ckpt = rebuild(tmp_path / "orient.onnx", tmp_path / "again", batches=[(torch.randn(8, 1, 32, 128),)])
    back = OrientNet((4, 4, 8, 8), 8)
    back.load_state_dict(ckpt["model"])
    x = torch.randn(3, 1, 32, 128)
    with torch.no_grad():
        np.testing.assert_allclose(back.eval()(x).numpy(), m.eval()(x).numpy(), atol=1e-5)
    assert ckpt["state"]["step"] == 3 and ckpt["learning_curve"] == [{"step": 3, "val": {"all": 0.5}}]
