"""The end-to-end demo, shrunk to seconds: data, training, prediction, report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from aguvis.demo import (
    DemoConfig,
    HeldOutQuery,
    Outcome,
    build_model,
    chance_accuracy,
    format_report,
    heldout_queries,
    on_another_element,
    random_element_accuracy,
    run,
)

SMALL = {"train_screens": 8, "heldout_screens": 2, "queries_per_screen": 2, "micro_batch_size": 2, "figure_tiles": 2}


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[DemoConfig, dict]:
    config = DemoConfig(output=tmp_path_factory.mktemp("demo"), steps=24, **SMALL)
    return config, run(config)


def tiny_parameters(**shape) -> int:
    from aguvis.model.tiny import build_tiny_model, build_tiny_tokenizer

    return sum(p.numel() for p in build_tiny_model(build_tiny_tokenizer(), **shape).parameters())


def inside(point, box) -> bool:
    x, y = point
    return box[0] <= x <= box[2] and box[1] <= y <= box[3]


def test_report_json_is_written_with_training_and_heldout_results(demo):
    config, report = demo
    assert json.loads((config.output / "report.json").read_text()) == report
    training = report["training"]
    assert training["steps"] == training["planned_steps"] == 24 and not training["stopped_by_time"]
    assert training["samples"] == 24 * config.micro_batch_size
    assert training["samples_per_s"] > 0 and training["steps_per_s"] > 0 and training["queries_per_s"] > 0
    assert 0 < training["step_compute_seconds"] <= training["seconds"] <= report["total_seconds"]
    assert len(training["loss_curve"]) == 8 and training["loss_curve"][0] > training["loss_curve"][-1]
    assert report["model"]["parameters"] == tiny_parameters(**config.model)
    heldout = report["heldout"]
    assert heldout["screens"] == 2 and heldout["queries"] == 4
    assert heldout["random_element_accuracy"] > heldout["chance_accuracy"] > 0


def test_training_lowers_the_loss(demo):
    _, report = demo
    assert report["training"]["loss_last_10_steps"] < 0.8 * report["training"]["loss_first_step"]


def test_accuracy_is_counted_from_the_written_predictions(demo):
    config, report = demo
    rows = [json.loads(line) for line in (config.output / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == report["heldout"]["queries"]
    hits = [row["point"] is not None and inside(row["point"], row["bbox"]) for row in rows]
    assert [row["hit"] for row in rows] == hits
    assert report["heldout"]["correct"] == sum(hits)
    assert report["heldout"]["click_accuracy"] == round(sum(hits) / len(rows), 4)
    assert report["heldout"]["with_click"] == sum(row["point"] is not None for row in rows)
    assert 0 <= report["heldout"]["missed_on_another_element"] <= len(rows) - sum(hits)
    queries = heldout_queries(config.output / "data" / "heldout.jsonl")
    assert [(row["instruction"], tuple(row["bbox"])) for row in rows] == [(q.instruction, q.bbox) for q in queries]


def test_trained_model_is_exported_for_serving(demo):
    _, report = demo
    model = Path(report["model"]["path"])
    assert (model / "config.json").is_file() and (model / "model.safetensors").is_file()


def test_figure_shows_one_tile_per_screen(demo):
    config, report = demo
    with Image.open(report["figure"]) as figure:
        assert figure.format == "PNG"
        assert figure.width > 2 * config.width  # two tiles side by side


def test_printed_report_names_accuracy_loss_speed_and_time(demo):
    _, report = demo
    text = format_report(report)
    for words in ("click accuracy", "loss", "samples/s", "steps/s", "at random", "random element", "in all"):
        assert words in text


def test_a_time_budget_is_calibrated_and_kept(tmp_path):
    config = DemoConfig(output=tmp_path, minutes=0.05, calibration_seconds=1.0, **SMALL)
    report = run(config)
    training = report["training"]
    assert training["planned_steps"] >= 1 and 1 <= training["steps"] <= training["planned_steps"]
    # 3 s of steps (+10% before the hard stop), plus building, saving and exporting the model.
    assert training["step_compute_seconds"] < 3.3 + 1.0
    assert training["seconds"] < 15
    assert not (tmp_path / "calibration").exists()


def test_heldout_queries_pair_each_instruction_with_its_box(tmp_path):
    from aguvis.data.records import Record, Turn, write_records

    record = Record(
        images=["s.png"],
        conversations=[Turn("human", "<image>Click Save"), Turn("gpt", "pyautogui.click(x=0.1, y=0.1)"),
                       Turn("human", "Go to Blog"), Turn("gpt", "pyautogui.click(x=0.5, y=0.5)")],
        extra={"bbox": [[0.0, 0.0, 0.2, 0.2], [0.4, 0.4, 0.6, 0.6]]},
    )
    write_records(tmp_path / "heldout.jsonl", [record])
    assert heldout_queries(tmp_path / "heldout.jsonl") == [
        HeldOutQuery(tmp_path / "s.png", "Click Save", (0.0, 0.0, 0.2, 0.2)),
        HeldOutQuery(tmp_path / "s.png", "Go to Blog", (0.4, 0.4, 0.6, 0.6)),
    ]
    boxes = [[0.0, 0.0, 0.2, 0.2], [0.4, 0.4, 0.6, 0.6], [0.7, 0.7, 0.9, 0.8]]
    record.extra["elements"] = [{"text": t, "bbox": b} for t, b in zip(["Save", "Blog", "Help"], boxes)]
    write_records(tmp_path / "heldout.jsonl", [record])
    assert [q.elements for q in heldout_queries(tmp_path / "heldout.jsonl")] == [tuple(map(tuple, boxes))] * 2


def test_chance_accuracy_is_the_mean_target_area():
    queries = [HeldOutQuery(Path("a"), "x", (0.0, 0.0, 0.5, 0.5)), HeldOutQuery(Path("a"), "y", (0.0, 0.0, 0.1, 0.5))]
    assert chance_accuracy(queries) == pytest.approx((0.25 + 0.05) / 2)


def test_random_element_accuracy_is_the_mean_of_one_over_the_elements_on_each_screen():
    box = (0, 0, 1, 1)
    queries = [HeldOutQuery(Path("a"), "x", box, (box,) * 4), HeldOutQuery(Path("b"), "y", box, (box,) * 2)]
    assert random_element_accuracy(queries) == pytest.approx((1 / 4 + 1 / 2) / 2)
    assert random_element_accuracy([HeldOutQuery(Path("a"), "x", (0, 0, 1, 1))]) is None


def test_a_miss_on_another_element_is_told_apart_from_a_click_into_empty_space():
    target, other = (0.0, 0.0, 0.2, 0.2), (0.5, 0.5, 0.7, 0.6)
    query = HeldOutQuery(Path("a"), "Click Save", target, (target, other))
    assert on_another_element(Outcome(query, (0.6, 0.55), hit=False, error=None))
    assert not on_another_element(Outcome(query, (0.9, 0.9), hit=False, error=None))
    assert not on_another_element(Outcome(query, (0.1, 0.1), hit=True, error=None))
    assert not on_another_element(Outcome(query, None, hit=False, error="no click"))


def test_a_bigger_demo_model_is_a_config_away(tmp_path):
    loaded = build_model(DemoConfig(output=tmp_path, model={"hidden_size": 128, "mrope_section": (4, 6, 6)}))
    assert loaded.model.config.text_config.hidden_size == 128
    assert loaded.image_processor.size["longest_edge"] == DemoConfig.width * DemoConfig.height


def test_demo_command_refuses_a_non_positive_budget(capsys):
    from aguvis.cli import main

    assert main(["demo", "--minutes", "0"]) == 2
    assert "--minutes" in capsys.readouterr().err
