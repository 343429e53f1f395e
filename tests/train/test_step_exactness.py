"""benchmarks/step_exactness.py: the trainer's step against the plain model, record by record.

On the CPU in fp32 every path is the exact reference, so the check must find
the two sides equal; and its comparison must flag a gradient that differs.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
import yaml

from tests.fixtures_models import save_tiny_checkpoint

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "step_exactness.py"


@pytest.fixture(scope="module")
def step_exactness():
    spec = importlib.util.spec_from_file_location("step_exactness", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_cpu_step_is_exact_with_packing_and_preloading(step_exactness, grounding_records, tmp_path):
    model = save_tiny_checkpoint(tmp_path / "model", seed=0)
    config = tmp_path / "train.yaml"
    config.write_text(yaml.safe_dump({
        "model": {"path": "unused"},
        "data": {"records": "unused", "images_root": "unused", "max_pixels": 448 * 280, "max_length": 2048,
                 "packing": {"token_budget": 4096}, "preload": True},
        "run": {"output_dir": "unused"},
        "freeze_vision": False,
    }))
    out = tmp_path / "report.json"
    assert step_exactness.main([
        "--config", str(config), "--model", str(model), "--records", str(grounding_records),
        "--images", str(grounding_records.parent), "--limit", "5", "--json", str(out),
    ]) == 0
    report = json.loads(out.read_text())
    assert report["samples"] == [5, 5]
    assert report["label_tokens"][0] == report["label_tokens"][1] > 0
    assert report["parameters_only_on_one_side"] == []
    assert report["loss_relative_difference"] < 1e-5
    assert report["worst_cosine"] > 0.9999
    assert len(report["parameters"]) > 20  # the vision tower trains too: its gradients are compared


def test_a_differing_gradient_is_reported_first(step_exactness):
    grads = {"a": torch.ones(4), "b": torch.tensor([1.0, 0.0, 0.0, 0.0])}
    off = {"a": torch.ones(4), "b": torch.tensor([0.0, 1.0, 0.0, 0.0])}
    report = step_exactness.compare(
        {"loss": 2.0, "label_tokens": 3, "samples": 1, "grads": grads},
        {"loss": 2.2, "label_tokens": 3, "samples": 1, "grads": off},
    )
    assert report["parameters"][0]["name"] == "b"
    assert report["worst_cosine"] == pytest.approx(0.0)
    assert report["loss_relative_difference"] == pytest.approx(0.1)
