"""scripts/miniwob_init_model.py: the random checkpoint keeps the pixel normalisation it is given."""

from __future__ import annotations

import json

import yaml

from tests.fixtures_scripts import load_script

SMALL = {
    "hidden_size": 64,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "num_key_value_heads": 2,
    "intermediate_size": 128,
    "mrope_section": [4, 6, 6],
    "vision_depth": 1,
    "vision_embed_dim": 32,
    "vision_num_heads": 2,
    "vision_mlp_ratio": 2,
}


def _spec(tmp_path, **extra):
    spec = tmp_path / "model.yaml"
    spec.write_text(yaml.safe_dump({"seed": 0, "shape": SMALL, **extra}), encoding="utf-8")
    return spec


def test_the_configured_normalisation_is_saved_and_loaded_back(tmp_path):
    from aguvis.model.load import load_model

    spec = _spec(tmp_path, image_mean=[1.0, 1.0, 1.0], image_std=[0.27, 0.27, 0.27])
    assert load_script("miniwob_init_model").main(["--config", str(spec), "--output", str(tmp_path / "init")]) == 0
    saved = json.loads((tmp_path / "init" / "preprocessor_config.json").read_text())
    assert saved["image_mean"] == [1.0, 1.0, 1.0] and saved["image_std"] == [0.27, 0.27, 0.27]
    assert list(load_model(tmp_path / "init").image_processor.image_std) == [0.27, 0.27, 0.27]


def test_a_bad_normalisation_or_key_is_named(tmp_path, capsys):
    script = load_script("miniwob_init_model")
    assert script.main(["--config", str(_spec(tmp_path, image_std=[0.2, 0.2])), "--output", str(tmp_path / "a")]) == 2
    assert "image_std must be three numbers" in capsys.readouterr().err
    assert script.main(["--config", str(_spec(tmp_path, image_men=[1, 1, 1])), "--output", str(tmp_path / "b")]) == 2
    assert "unknown key(s) image_men" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_set_overrides_a_shape_field_and_refuses_a_key_outside_the_file(tmp_path, capsys):
    script = load_script("miniwob_init_model")
    spec = str(_spec(tmp_path))
    argv = ["--config", spec, "--output", str(tmp_path / "wide"), "--set", "shape.vision_embed_dim=64"]
    assert script.main([*argv, "--set", "shape.vision_num_heads=4"]) == 0
    vision = json.loads((tmp_path / "wide" / "config.json").read_text())["vision_config"]
    assert vision["embed_dim"] == 64 and vision["num_heads"] == 4  # the file says 32 and 2
    assert script.main(["--config", spec, "--output", str(tmp_path / "x"), "--set", "vision_embed_dim=64"]) == 2
    assert "shape.FIELD" in capsys.readouterr().err and not (tmp_path / "x").exists()
