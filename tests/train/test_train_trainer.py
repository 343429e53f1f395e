"""The trainer end to end on the tiny model: learning, freezing, export, exact resume, metrics."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from aguvis.train.config import from_dict
from aguvis.train.metrics import read_metrics
from aguvis.train.trainer import Trainer

VISION_PREFIX = "model.visual."
MERGER_PREFIX = "model.visual.merger."


def tiny_config(records, output_dir, **sections):
    raw = {
        "model": {"path": "tiny"},
        "data": {
            "records": str(records),
            "images_root": str(records.parent),
            "num_workers": 0,
            "max_pixels": 448 * 280,
            "max_length": 2048,
        },
        "optim": {"lr": 1e-3},
        "batch": {"micro_batch_size": 2, "grad_accumulation": 2},
        "run": {"output_dir": str(output_dir), "max_steps": 6, "save_every": 3, "seed": 0, "resume": "auto"},
        "gradient_checkpointing": True,
    }
    for name, values in sections.items():
        raw[name] = {**raw.get(name, {}), **values} if isinstance(values, dict) else values
    return from_dict(raw)


def train(config):
    trainer = Trainer(config)
    try:
        final = trainer.train()
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        full = get_model_state_dict(trainer.model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    finally:
        trainer.close()
    return final, {k.removeprefix("model."): v for k, v in full.items()}


def training_curve(output_dir):
    """The logged metrics without wall-clock timings."""
    timing = {"tokens_per_s", "step_time_s"}
    return [{k: v for k, v in m.items() if k not in timing} for m in read_metrics(output_dir / "metrics.jsonl")]


@pytest.fixture(scope="module")
def run(grounding_records, tmp_path_factory):
    """Six steps (two epochs of 8 samples), checkpoints at steps 3 and 6."""
    output = tmp_path_factory.mktemp("run") / "out"
    config = tiny_config(grounding_records, output)
    final, weights = train(config)
    return {"config": config, "output": output, "final": final, "weights": weights}


def test_exported_model_holds_exactly_the_trained_weights(run):
    from transformers import Qwen2VLForConditionalGeneration

    exported = Qwen2VLForConditionalGeneration.from_pretrained(run["final"], local_files_only=True).state_dict()
    assert exported.keys() == run["weights"].keys()
    assert all(torch.equal(exported[k], run["weights"][k]) for k in exported)


def test_exported_model_loads_with_its_tokenizer_and_processor(run):
    from aguvis.model.load import load_model

    loaded = load_model(run["final"], max_pixels=448 * 280)
    assert "<|diff_marker|>" in loaded.tokenizer.get_vocab()
    assert loaded.image_processor.size["longest_edge"] == 448 * 280


def test_frozen_vision_transformer_is_unchanged_and_the_rest_trains(run, tiny_tokenizer):
    from aguvis.model.tiny import build_tiny_model

    initial = build_tiny_model(tiny_tokenizer, seed=0).state_dict()
    trained = run["weights"]
    vit = [k for k in initial if k.startswith(VISION_PREFIX) and not k.startswith(MERGER_PREFIX)]
    merger = [k for k in initial if k.startswith(MERGER_PREFIX)]
    language = [k for k in initial if k.startswith("model.language_model.layers.")]
    assert vit and all(torch.equal(initial[k], trained[k]) for k in vit)
    assert all(not torch.equal(initial[k], trained[k]) for k in merger + language)


def test_resume_from_a_checkpoint_gives_the_same_weights_as_an_uninterrupted_run(run, tmp_path):
    interrupted = tmp_path / "out"
    shutil.copytree(run["output"], interrupted)
    shutil.rmtree(interrupted / "checkpoints" / "step-00000006")
    shutil.rmtree(interrupted / "model")
    config = tiny_config(Path(run["config"].data.records), interrupted)
    _, resumed = train(config)
    assert resumed.keys() == run["weights"].keys()
    assert all(torch.equal(resumed[k], run["weights"][k]) for k in resumed)
    assert training_curve(interrupted) == training_curve(run["output"])


class FakeClock:
    """A clock that advances one second per reading."""

    def __init__(self) -> None:
        self.now = -1.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def train_on_a_fake_clock(config):
    """Train with one reading per step after the start one: the run stops after ``ceil(max_seconds)`` steps."""
    trainer = Trainer(config)
    trainer.clock = FakeClock()
    try:
        final = trainer.train()
    finally:
        trainer.close()
    return trainer, final


def test_time_budget_stops_at_the_first_step_past_it_then_saves_and_exports(run, tmp_path):
    config = tiny_config(
        Path(run["config"].data.records), tmp_path / "out", run={"max_seconds": 2.5, "save_every": 0, "log_every": 2}
    )
    trainer, final = train_on_a_fake_clock(config)
    assert trainer.step == 3 and trainer.total_steps == 6 and trainer.stopped_by_time
    assert (final / "model.safetensors").is_file()
    assert sorted(p.name for p in (tmp_path / "out" / "checkpoints").iterdir()) == ["step-00000003"]
    # The last step is logged although log_every is 2, and the schedule is the one planned for 6 steps.
    assert training_curve(tmp_path / "out") == [m for m in training_curve(run["output"]) if m["step"] in (2, 3)]


def test_a_run_stopped_by_time_resumes_to_the_same_result_as_an_uninterrupted_run(run, tmp_path):
    records = Path(run["config"].data.records)
    stopped, _ = train_on_a_fake_clock(tiny_config(records, tmp_path / "out", run={"max_seconds": 3.5}))
    assert stopped.step == 4 and stopped.stopped_by_time
    trainer, _ = train_on_a_fake_clock(tiny_config(records, tmp_path / "out", run={"max_seconds": 10}))
    assert trainer.step == 6 and not trainer.stopped_by_time  # reached the plan before the budget
    _, resumed = train(tiny_config(records, tmp_path / "out"))  # already at step 6: only exports
    assert all(torch.equal(resumed[k], run["weights"][k]) for k in run["weights"])
    assert training_curve(tmp_path / "out") == training_curve(run["output"])


def test_metrics_log_every_step_with_counts_over_the_step(run):
    metrics = read_metrics(run["output"] / "metrics.jsonl")
    assert [m["step"] for m in metrics] == [1, 2, 3, 4, 5, 6]
    assert [m["epoch"] for m in metrics] == [0, 0, 1, 1, 2, 2]
    assert all(m["label_tokens"] > 0 and m["tokens"] > m["label_tokens"] for m in metrics)
    assert metrics[0]["lr"] < metrics[1]["lr"]  # warm-up, then cosine decay
    assert metrics[1]["lr"] > metrics[-1]["lr"]


def test_timings_say_where_the_run_went_its_data_within_its_set_up(run):
    timings = json.loads((run["output"] / "timings.json").read_text())
    assert set(timings) == {"setup_s", "data_s", "train_s", "export_s"}
    assert 0 < timings["data_s"] < timings["setup_s"]
    assert timings["train_s"] > 0 and timings["export_s"] > 0


def test_only_the_newest_checkpoints_are_kept_and_all_are_complete(run):
    names = sorted(p.name for p in (run["output"] / "checkpoints").iterdir())
    assert names == ["step-00000003", "step-00000006"]
    state = json.loads((run["output"] / "checkpoints" / "step-00000006" / "trainer.json").read_text())
    assert state["step"] == 6 and state["data_position"] == {"epoch": 3, "consumed": 0, "unit": "samples"}


def test_loss_falls_on_a_fixed_batch(tmp_path):
    from aguvis.data.synthetic import make_grounding_dataset

    records = make_grounding_dataset(tmp_path / "data", 4, 3, seed=0)
    config = tiny_config(
        records,
        tmp_path / "out",
        optim={"lr": 3e-3},
        schedule={"name": "constant"},
        batch={"micro_batch_size": 4, "grad_accumulation": 1},
        run={"max_steps": 30, "save_every": 0, "resume": "none"},
        gradient_checkpointing=False,
    )
    train(config)
    losses = [m["loss"] for m in read_metrics(tmp_path / "out" / "metrics.jsonl")]
    assert len(losses) == 30
    assert losses[-1] < 0.5 * losses[0]


def test_too_little_data_for_one_step_is_a_clear_error(grounding_records, tmp_path):
    config = tiny_config(grounding_records, tmp_path / "out", batch={"micro_batch_size": 8, "grad_accumulation": 2})
    with pytest.raises(ValueError, match="do not fill one optimizer step"):
        Trainer(config)
    assert not torch.distributed.is_initialized()  # the failed trainer released its process group


def test_decoder_layers_are_sharded_and_the_vision_tower_stays_in_the_root(tiny_tokenizer):
    from aguvis.model.tiny import build_tiny_model
    from aguvis.train.parallel import shard_units

    model = build_tiny_model(tiny_tokenizer)
    assert shard_units(model) == list(model.model.language_model.layers)


def test_a_fresh_run_in_a_used_folder_exports_its_own_weights(run, tmp_path):
    """resume: none over an earlier run's checkpoints of the same steps: the export is the new run's."""
    from transformers import Qwen2VLForConditionalGeneration

    reused = tmp_path / "out"
    shutil.copytree(run["output"], reused)
    records = Path(run["config"].data.records)
    config = tiny_config(records, reused, optim={"lr": 3e-3}, run={"resume": "none", "save_every": 0})
    final, weights = train(config)
    exported = Qwen2VLForConditionalGeneration.from_pretrained(final, local_files_only=True).state_dict()
    assert all(torch.equal(exported[k], weights[k]) for k in exported)
    assert not all(torch.equal(weights[k], run["weights"][k]) for k in weights)  # it is another model
    assert sorted(p.name for p in (reused / "checkpoints").iterdir()) == ["step-00000006"]


def test_tf32_precision_computes_in_fp32_with_tf32_products_and_fp32_turns_them_off(grounding_records, tmp_path):
    """``tf32`` keeps fp32 weights and compute and switches TF32 matrix products on; a later ``fp32`` run in
    the same process gets full fp32 products again (torch's switch is process-wide)."""
    before = torch.backends.cuda.matmul.allow_tf32
    try:
        for precision, tf32 in (("tf32", True), ("fp32", False)):
            trainer = Trainer(tiny_config(grounding_records, tmp_path / precision, precision=precision))
            try:
                assert trainer.dtype == torch.float32
                assert torch.backends.cuda.matmul.allow_tf32 is tf32
            finally:
                trainer.close()
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before
