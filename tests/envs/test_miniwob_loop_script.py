"""scripts/miniwob_loop.py: the packed model comes back in small parts that rebuild the folder."""

from __future__ import annotations

import argparse
import io
import json
import tarfile
from pathlib import Path

import pytest

from tests.fixtures_scripts import load_script


def test_the_model_is_split_into_parts_that_concatenate_back_into_the_folder(tmp_path, monkeypatch):
    loop = load_script("miniwob_loop")
    monkeypatch.setattr(loop, "PART_BYTES", 4096)
    model = tmp_path / "model"
    model.mkdir()
    weights = bytes(range(256)) * 40  # 10 KiB
    (model / "model.safetensors").write_bytes(weights)
    (model / "config.json").write_text("{}")
    parts = loop._pack({"model": model}, tmp_path / "out")
    sizes = [(tmp_path / "out" / p).stat().st_size for p in parts]
    assert len(parts) >= 3 and max(sizes) <= 4096 and not (tmp_path / "out" / "model.tar").exists()
    joined = b"".join((tmp_path / "out" / p).read_bytes() for p in parts)
    with tarfile.open(fileobj=io.BytesIO(joined)) as tar:
        assert tar.extractfile("model/model.safetensors").read() == weights


def test_the_fixed_cost_estimate_counts_the_augmented_copies_a_stage_preloads(tmp_path):
    loop = load_script("miniwob_loop")
    data = "data:\n  mixture: m.yaml\n  packing: {token_budget: 8192}\n  preload: true\n"
    (tmp_path / "stage1.yaml").write_text(data + "  augment:\n    copies: 3\n")
    (tmp_path / "stage2.yaml").write_text(data + "  augment: {}\n")
    args = argparse.Namespace(configs=tmp_path, overrides=[])
    assert loop._screen_copies(args, "stage1") == 4
    assert loop._screen_copies(args, "stage2") == 4  # AugmentConfig's default of 3 copies
    args.overrides = ["data.augment.copies=1"]
    assert loop._screen_copies(args, "stage1") == 2
    args.overrides = ["data.augment=null"]
    assert loop._screen_copies(args, "stage1") == 1


def test_only_the_probes_data_preparation_grows_with_a_stages_copies():
    loop = load_script("miniwob_loop")
    assert loop._stage_fixed_cost(35.0, 16.0, 4) == 35.0 + 3 * 16.0
    assert loop._stage_fixed_cost(35.0, 16.0, 1) == 35.0
    assert loop._stage_fixed_cost(35.0, 50.0, 4) == 4 * 35.0  # no more data time than the whole fixed cost


def test_training_seconds_weight_each_logged_step_time_by_the_steps_it_covers():
    loop = load_script("miniwob_loop")
    rows = [{"step": 20, "step_time_s": 0.1}, {"step": 40, "step_time_s": 0.2}, {"step": 45, "step_time_s": 0.4}]
    assert abs(loop._training_seconds(rows) - (2.0 + 4.0 + 2.0)) < 1e-9


def test_a_stage_summary_keeps_where_the_trainers_time_went(tmp_path, monkeypatch):
    loop = load_script("miniwob_loop")
    output = tmp_path / "run" / "stage1"

    def fake_run(command, summary, name):  # what `aguvis train` leaves in its output folder
        output.mkdir(parents=True)
        rows = [
            {"step": 20, "loss": 1.5, "samples": 80, "step_time_s": 0.1},
            {"step": 30, "loss": 1.0, "samples": 90, "step_time_s": 0.1},
        ]
        (output / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
        (output / "config.yaml").write_text("data:\n  packing: {token_budget: 32768}\n")
        timings = {"data_s": 14.96, "setup_s": 40.04, "train_s": 3.0, "export_s": 1.26}
        (output / "timings.json").write_text(json.dumps(timings))
        return 50.0

    monkeypatch.setattr(loop, "_run", fake_run)
    args = argparse.Namespace(configs=tmp_path, data=tmp_path, overrides=[], out=tmp_path / "out")
    summary: dict = {}
    result = loop._train(args, "stage1", tmp_path / "init", output, 30, summary)
    assert summary["stage1"]["timings"] == {"data_s": 15.0, "setup_s": 40.0, "train_s": 3.0, "export_s": 1.3}
    assert summary["stage1"]["steps"] == 30 and summary["stage1"]["samples"] == 2550
    assert result["timings"]["setup_s"] == 40.04
    assert (tmp_path / "out" / "stage1-metrics.jsonl").read_text() == (output / "metrics.jsonl").read_text()


def test_the_probe_trains_without_copies_even_when_the_stages_set_them(tmp_path, monkeypatch):
    from aguvis.train.config import load_config

    loop = load_script("miniwob_loop")
    output = tmp_path / "probe"
    commands = []

    def fake_run(command, summary, name):
        commands.append(command)
        output.mkdir()
        (output / "metrics.jsonl").write_text(json.dumps({"step": 2, "loss": 1.0, "samples": 8, "step_time_s": 0.1}))
        (output / "config.yaml").write_text("data: {}\n")
        (output / "timings.json").write_text(json.dumps({"data_s": 1.0}))
        return 5.0

    monkeypatch.setattr(loop, "_run", fake_run)
    overrides = ["data.augment.copies=1", "data.max_length=1280"]
    configs = Path(__file__).resolve().parents[2] / "configs" / "miniwob"
    args = argparse.Namespace(configs=configs, data=tmp_path, overrides=overrides, out=tmp_path)
    loop._train(args, "stage1", tmp_path / "init", output, 2, {}, probe=True)
    sets = [commands[0][i + 1] for i, arg in enumerate(commands[0]) if arg == "--set"]
    config = load_config(args.configs / "stage1.yaml", sets)  # raised before: copies set after augment=null
    assert config.data.augment is None and config.data.max_length == 1280


def test_the_joined_mixture_lists_every_entry_with_its_own_folders(tmp_path):
    from aguvis.data import load_mixture

    loop = load_script("miniwob_loop")
    for name, strategy in (("data", "all"), ("drawn", "random:50%")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "stage1.yaml").write_text(
            f"datasets:\n  - json_path: a.jsonl\n    images_folder: .\n    sampling_strategy: \"{strategy}\"\n"
        )
    joined = loop._joined_mixture(
        [tmp_path / "data" / "stage1.yaml", tmp_path / "drawn" / "stage1.yaml"], tmp_path / "run" / "mixture.yaml"
    )
    entries = load_mixture(joined)
    assert [(e.json_path, e.images_folder, e.sampling_strategy) for e in entries] == [
        (tmp_path / "data" / "a.jsonl", tmp_path / "data", "all"),
        (tmp_path / "drawn" / "a.jsonl", tmp_path / "drawn", "random:50%"),
    ]


def test_stage_two_rehearses_stage_ones_files_drawn_by_the_strategy_given(tmp_path, monkeypatch):
    from aguvis.data import load_mixture

    loop = load_script("miniwob_loop")
    data = tmp_path / "data"
    data.mkdir()
    for stage, files in (("stage1", ("s1.jsonl", "ref.jsonl")), ("stage2", ("l1.jsonl",))):
        entries = "".join(f"  - json_path: {f}\n    images_folder: .\n    sampling_strategy: all\n" for f in files)
        (data / f"{stage}.yaml").write_text("datasets:\n" + entries)
    trained = _timed_call(loop, tmp_path, monkeypatch, "--stage1-steps", "10", "--stage2-rehearsal", "random:25%")
    assert trained["stage1"]["mixture"] == data / "stage1.yaml"
    assert [(e.json_path.name, e.sampling_strategy) for e in load_mixture(trained["stage2"]["mixture"])] == [
        ("l1.jsonl", "all"),
        ("s1.jsonl", "random:25%"),
        ("ref.jsonl", "random:25%"),
    ]


def test_a_bad_rehearsal_strategy_or_variant_stops_the_call(tmp_path, monkeypatch):
    from aguvis.data import MixtureError

    loop = load_script("miniwob_loop")
    (tmp_path / "data").mkdir()
    for stage in ("stage1", "stage2"):
        (tmp_path / "data" / f"{stage}.yaml").write_text(
            "datasets:\n  - json_path: a.jsonl\n    images_folder: .\n    sampling_strategy: all\n"
        )
    with pytest.raises(MixtureError, match="sometimes"):
        _timed_call(loop, tmp_path, monkeypatch, "--stage1-steps", "10", "--stage2-rehearsal", "sometimes")
    argv = ["--out", str(tmp_path / "out"), "--variant", "stage2-only", "--stage2-rehearsal", "all"]
    with pytest.raises(SystemExit):
        loop.main(argv)


def _timed_call(loop, tmp_path, monkeypatch, *options: str) -> dict:
    """main() with ``options`` on a fake clock, each stage taking 200 s (100 s of steps, 100 s fixed);
    returns each stage's steps, ``run.max_seconds`` guard and mixture by its folder's name."""
    clock = {"now": 0.0}
    trained: dict = {}

    def fake_train(args, stage, model, output, steps, summary, *, max_seconds=None, mixture=None, **_):
        trained[output.name] = {"steps": steps, "guard": max_seconds, "mixture": mixture}
        clock["now"] += 200.0
        summary[output.name] = {}
        return {"wall_s": 200.0, "metrics": [{"step": steps, "step_time_s": 100.0 / steps}], "timings": {}}

    monkeypatch.setattr(loop, "time", argparse.Namespace(monotonic=lambda: clock["now"]))
    monkeypatch.setattr(loop, "_run", lambda command, summary, name: 0.0)
    monkeypatch.setattr(loop, "_train", fake_train)
    monkeypatch.setattr(loop, "_pack", lambda model, out: [])
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "manifest.json").write_text("{}")
    (tmp_path / "out").mkdir()
    argv = ["--data", str(tmp_path / "data"), "--run", str(tmp_path / "run"), "--out", str(tmp_path / "out")]
    assert loop.main([*argv, *options]) == 0
    return trained


def test_stage_two_is_guarded_by_what_is_left_of_the_budget_without_slack(tmp_path, monkeypatch):
    loop = load_script("miniwob_loop")
    steps = ("--stage1-steps", "1000", "--stage2-steps", "1000")
    trained = _timed_call(loop, tmp_path, monkeypatch, "--budget-s", "500", *steps)
    # stage 1 ends at 200 s having cost 100 s besides its steps; stage 2 may train for what the budget
    # leaves after the same fixed cost and the packing, and no more
    assert trained["stage2"]["guard"] == 500.0 - 200.0 - 100.0 - loop.PACK_SECONDS
    assert trained["stage1"]["guard"] > (500.0 - loop.PACK_SECONDS) * 0.45  # stage 1 keeps its slack


def test_with_stage_one_steps_given_there_is_no_probe_and_stage_two_fills_what_is_left(tmp_path, monkeypatch):
    loop = load_script("miniwob_loop")
    steps = ("--stage1-steps", "1000", "--stage2-cost", "1.0")
    trained = _timed_call(loop, tmp_path, monkeypatch, "--budget-s", "500", *steps)
    assert list(trained) == ["stage1", "stage2"]
    # 500 - 200 (stage 1) - 100 (stage 2's fixed cost, as stage 1's) - packing, at stage 1's 0.1 s a step
    assert trained["stage2"]["steps"] == int((500.0 - 200.0 - 100.0 - loop.PACK_SECONDS) / 0.1)


def _fake_call(loop, tmp_path, monkeypatch, weights: int, *extra: str):
    """main() with stages that each write a model of ``weights`` bytes and their metrics, as `aguvis train` does."""

    def fake_train(args, stage, model, output, steps, summary, *, max_seconds=None, **_):
        (output / "model").mkdir(parents=True)
        (output / "model" / "model.safetensors").write_bytes(stage.encode() * (weights // len(stage)))
        (args.out / f"{stage}-metrics.jsonl").write_text(json.dumps({"step": steps, "stage": stage}) + "\n")
        summary[output.name] = {}
        return {"wall_s": 1.0, "metrics": [{"step": steps, "step_time_s": 0.001}], "timings": {}}

    monkeypatch.setattr(loop, "_run", lambda command, summary, name: 0.0)
    monkeypatch.setattr(loop, "_train", fake_train)
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "manifest.json").write_text("{}")
    out = tmp_path / "out"
    out.mkdir()
    argv = ["--data", str(tmp_path / "data"), "--run", str(tmp_path / "run"), "--out", str(out), "--keep-stage1"]
    assert loop.main([*argv, "--stage1-steps", "3", "--stage2-steps", "4", *extra]) == 0
    joined = b"".join((out / part).read_bytes() for part in sorted(out.glob("model.tar.part-*")))
    with tarfile.open(fileobj=io.BytesIO(joined)) as tar:
        names = set(tar.getnames())
        metrics = tar.extractfile(max(n for n in names if n.endswith("-metrics.jsonl"))).read()
        weights_back = tar.extractfile("model/model.safetensors").read()
    return out, names, metrics, weights_back


def test_the_archive_holds_both_models_and_the_metrics_and_the_call_returns_few_files(tmp_path, monkeypatch):
    loop = load_script("miniwob_loop")
    monkeypatch.setattr(loop, "PART_BYTES", 16384)
    out, names, metrics, _ = _fake_call(loop, tmp_path, monkeypatch, weights=20000)
    assert {"model/model.safetensors", "stage1-model/model.safetensors", "stage1-metrics.jsonl"} <= names
    assert json.loads(metrics) == {"step": 4, "stage": "stage2"}
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith("model.tar.part-")) == ["summary.json"]
    assert len(list(out.iterdir())) <= loop.RETURNED_FILES


def test_the_stage1_model_is_left_out_when_the_call_could_not_return_it(tmp_path, monkeypatch):
    loop = load_script("miniwob_loop")
    monkeypatch.setattr(loop, "PART_BYTES", 16384)
    out, names, _, _ = _fake_call(loop, tmp_path, monkeypatch, weights=60000)  # both models: 8 parts, and summary.json
    assert "model/model.safetensors" in names and not any(n.startswith("stage1-model") for n in names)
    assert "left out" in json.loads((out / "summary.json").read_text())["stage1_model"]
    assert len(list(out.iterdir())) <= loop.RETURNED_FILES


def test_pieces_past_the_calls_bytes_drop_the_stage1_model_then_wait_in_the_run_folder(tmp_path, monkeypatch):
    loop = load_script("miniwob_loop")
    monkeypatch.setattr(loop, "PART_BYTES", 16384)
    monkeypatch.setattr(loop, "SUMMARY_BYTES", 1024)
    monkeypatch.setattr(loop, "RETURNED_BYTES", 40000)  # two parts and the summary; one model makes three
    out, _, _, _ = _fake_call(loop, tmp_path, monkeypatch, weights=30000)
    summary = json.loads((out / "summary.json").read_text())
    assert "left out" in summary["stage1_model"]
    assert summary["parts_not_returned"]["parts"] == ["model.tar.part-02"]
    kept = Path(summary["parts_not_returned"]["kept_at"]) / "model.tar.part-02"
    assert kept.read_bytes() == (out / "model.tar.part-02").read_bytes()
    returned = sorted(out.glob("model.tar.part-*"))[:2]
    assert sum(p.stat().st_size for p in returned) + loop.SUMMARY_BYTES <= loop.RETURNED_BYTES


def test_stage_one_only_packs_the_stage_one_model_as_the_model(tmp_path, monkeypatch):
    loop = load_script("miniwob_loop")
    _, names, metrics, weights = _fake_call(loop, tmp_path, monkeypatch, 100, "--variant", "stage1-only")
    assert weights.startswith(b"stage1") and "stage2-metrics.jsonl" not in names
    assert json.loads(metrics) == {"step": 3, "stage": "stage1"}
    assert not any(n.startswith("stage1-model") for n in names)  # --keep-stage1 has nothing more to keep
