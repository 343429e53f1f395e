"""Training configs: YAML -> typed dataclasses, overrides, and errors that say where."""

from __future__ import annotations

from pathlib import Path

import pytest

from aguvis.data.mixture import load_mixture
from aguvis.train.config import ConfigError, TrainConfig, apply_overrides, from_dict, load_config

REPO = Path(__file__).resolve().parents[2]
MINIMAL = {"data": {"records": "r.jsonl", "images_root": "."}}


def write(tmp_path, text):
    path = tmp_path / "train.yaml"
    path.write_text(text)
    return path


def test_defaults_follow_the_recipe():
    config = from_dict(MINIMAL)
    assert config.optim.lr == 1e-5 and config.optim.grad_clip == 1.0
    assert config.schedule.name == "cosine" and config.schedule.warmup_ratio == 0.03
    assert config.data.max_length == 8192 and config.data.max_pixels == 1280 * 720
    assert config.run.epochs == 1 and config.freeze_vision and config.gradient_checkpointing


def test_yaml_values_are_typed(tmp_path):
    text = "data: {records: r.jsonl, images_root: .}\noptim: {lr: 2, betas: [0.9, 0.95]}\n"
    config = load_config(write(tmp_path, text))
    assert config.optim.lr == 2.0 and isinstance(config.optim.lr, float)
    assert config.optim.betas == (0.9, 0.95)


def test_unknown_key_names_the_file_and_dotted_key(tmp_path):
    path = write(tmp_path, "data: {records: r.jsonl, images_root: .}\noptim: {learning_rate: 1.0e-5}\n")
    with pytest.raises(ConfigError, match=rf"{path}: optim\.learning_rate: unknown key"):
        load_config(path)


def test_unknown_section_is_rejected(tmp_path):
    with pytest.raises(ConfigError, match="trainer: unknown key"):
        load_config(write(tmp_path, "trainer: {}\n"))


def test_wrong_type_names_the_key(tmp_path):
    path = write(tmp_path, "data: {records: r.jsonl, images_root: ., max_length: long}\n")
    with pytest.raises(ConfigError, match=r"data\.max_length: expected an integer"):
        load_config(path)


def test_bad_choice_lists_the_allowed_values():
    with pytest.raises(ConfigError, match=r"precision: expected one of \['auto', 'bf16', 'fp32', 'tf32'\]"):
        from_dict({**MINIMAL, "precision": "fp16"})


def test_exactly_one_data_source_is_required():
    with pytest.raises(ConfigError, match="exactly one of data.mixture, data.records and data.synthetic"):
        from_dict({"data": {"mixture": "m.yaml", "records": "r.jsonl", "images_root": "."}})


def test_records_need_an_images_root():
    with pytest.raises(ConfigError, match="data.images_root"):
        from_dict({"data": {"records": "r.jsonl"}})


def test_non_positive_batch_is_rejected():
    with pytest.raises(ConfigError, match="batch.micro_batch_size: must be positive"):
        from_dict({**MINIMAL, "batch": {"micro_batch_size": 0}})


def test_time_budget_is_off_by_default_and_must_be_positive(tmp_path):
    assert from_dict(MINIMAL).run.max_seconds is None
    config = load_config(write(tmp_path, "data: {records: r.jsonl, images_root: .}\nrun: {max_seconds: 240}\n"))
    assert config.run.max_seconds == 240.0 and isinstance(config.run.max_seconds, float)
    with pytest.raises(ConfigError, match="run.max_seconds: must be positive or null"):
        apply_overrides(from_dict(MINIMAL), ["run.max_seconds=0"])


def test_overrides_use_dotted_keys_and_yaml_values():
    config = apply_overrides(from_dict(MINIMAL), ["optim.lr=2e-5", "run.max_steps=10", "freeze_vision=false"])
    assert config.optim.lr == 2e-5 and config.run.max_steps == 10 and config.freeze_vision is False


def test_override_of_an_unknown_key_is_an_error():
    with pytest.raises(ConfigError, match=r"--set: optim\.learning_rate: unknown key"):
        apply_overrides(from_dict(MINIMAL), ["optim.learning_rate=1"])


def test_override_without_equals_sign_is_an_error():
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides(from_dict(MINIMAL), ["optim.lr"])


def test_config_round_trips_through_a_plain_dict():
    config = from_dict({**MINIMAL, "data": {"synthetic": {"kind": "planning", "screens": 4}}})
    assert from_dict(config.to_dict()) == config
    assert isinstance(config, TrainConfig)


@pytest.mark.parametrize("name", ["stage1.yaml", "stage2.yaml", "tiny/stage1.yaml", "tiny/stage2.yaml"])
def test_shipped_configs_load(name):
    config = load_config(REPO / "configs" / name)
    assert config.optim.grad_clip == 1.0


def test_stage2_starts_from_the_stage1_output():
    stage1, stage2 = load_config(REPO / "configs/stage1.yaml"), load_config(REPO / "configs/stage2.yaml")
    assert stage2.model.path == f"{stage1.run.output_dir}/model"
    tiny1, tiny2 = load_config(REPO / "configs/tiny/stage1.yaml"), load_config(REPO / "configs/tiny/stage2.yaml")
    assert tiny2.model.path == f"{tiny1.run.output_dir}/model"


def test_stage_configs_use_the_recipe_values():
    for name in ("stage1.yaml", "stage2.yaml"):
        config = load_config(REPO / "configs" / name)
        assert (config.optim.lr, config.schedule.warmup_ratio, config.run.epochs) == (1e-5, 0.03, 1)
        assert (config.precision, config.data.max_length, config.data.max_pixels) == ("bf16", 8192, 1280 * 720)
        assert config.gradient_checkpointing and config.freeze_vision


@pytest.mark.parametrize("stage", ["stage1", "stage2"])
def test_shipped_mixtures_parse_and_name_collection_files(stage):
    entries = load_mixture(REPO / "configs" / "mixtures" / f"{stage}.yaml")
    assert entries and all(e.json_path.name.endswith(".json") for e in entries)
    assert all(f"aguvis-{stage}" in e.json_path.as_posix() for e in entries)


def test_exponents_without_a_dot_are_numbers(tmp_path):
    config = load_config(write(tmp_path, "data: {records: r.jsonl, images_root: .}\noptim: {lr: 1e-5, eps: 1e-8}\n"))
    assert (config.optim.lr, config.optim.eps) == (1e-5, 1e-8)


def test_override_inside_an_unset_section_says_to_set_the_section():
    with pytest.raises(ConfigError, match=r"data\.synthetic: is null; set the whole section"):
        apply_overrides(from_dict(MINIMAL), ["data.synthetic.screens=8"])


def test_a_whole_section_can_be_set_from_the_command_line():
    config = apply_overrides(from_dict(MINIMAL), ["data.records=null", "data.synthetic={screens: 8}"])
    assert config.data.synthetic.screens == 8 and config.data.synthetic.kind == "grounding"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"preload": True}, "data.preload: needs data.packing"),
        ({"packing": {"token_budget": 100}}, r"data.packing.token_budget: must be at least data.max_length \(8192\)"),
        ({"packing": {}, "augment": {}}, "data.augment: needs data.preload"),
        (
            {"packing": {}, "preload": True, "augment": {"max_shift": 1.5}},
            r"data.augment.max_shift: must be in \(0, 1\)",
        ),
    ],
)
def test_packing_preloading_and_augmentation_depend_on_each_other(data, message):
    with pytest.raises(ConfigError, match=message):
        from_dict({"data": {"records": "r.jsonl", "images_root": ".", **data}})


def test_packing_sections_take_their_defaults():
    config = from_dict(
        {"data": {"records": "r.jsonl", "images_root": ".", "packing": {}, "preload": True, "augment": {}}}
    )
    assert (config.data.packing.token_budget, config.data.packing.attention) == (16384, "varlen")
    assert (config.data.augment.copies, config.data.augment.max_shift) == (3, 0.12)
    assert config.to_dict()["data"]["packing"] == {"token_budget": 16384, "attention": "varlen", "lookahead": 64}
