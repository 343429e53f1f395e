"""The tiny random Qwen2-VL: built offline, deterministic, shaped like the real one."""

from __future__ import annotations

import pytest
import torch

from aguvis.model.tiny import TINY_CONFIG, build_tiny_model, tiny_qwen2_vl_config


def test_special_token_ids_come_from_the_tokenizer(tiny_tokenizer, tiny_model):
    config = tiny_model.config
    assert config.image_token_id == tiny_tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert config.video_token_id == tiny_tokenizer.convert_tokens_to_ids("<|video_pad|>")
    assert config.vision_start_token_id == tiny_tokenizer.convert_tokens_to_ids("<|vision_start|>")
    assert config.vision_end_token_id == tiny_tokenizer.convert_tokens_to_ids("<|vision_end|>")


def test_vocabulary_covers_every_tokenizer_id(tiny_tokenizer, tiny_model):
    assert tiny_model.get_input_embeddings().weight.shape[0] == len(tiny_tokenizer)
    assert tiny_model.get_output_embeddings().weight.shape[0] == len(tiny_tokenizer)


def test_model_is_small(tiny_model):
    assert sum(p.numel() for p in tiny_model.parameters()) < 2_000_000


def test_same_seed_gives_identical_weights(tiny_tokenizer):
    a = build_tiny_model(tiny_tokenizer, seed=3).state_dict()
    b = build_tiny_model(tiny_tokenizer, seed=3).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_different_seeds_give_different_weights(tiny_tokenizer):
    a = build_tiny_model(tiny_tokenizer, seed=0).state_dict()
    b = build_tiny_model(tiny_tokenizer, seed=1).state_dict()
    key = "model.language_model.embed_tokens.weight"
    assert not torch.equal(a[key], b[key])


def test_building_leaves_the_global_rng_untouched(tiny_tokenizer):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_tiny_model(tiny_tokenizer, seed=7)
    assert torch.equal(torch.rand(3), expected)


def test_overrides_change_the_shape(tiny_tokenizer):
    model = build_tiny_model(tiny_tokenizer, num_hidden_layers=3)
    assert len(model.model.language_model.layers) == 3


def test_unknown_override_is_rejected(tiny_tokenizer):
    with pytest.raises(TypeError, match="hidden_layers"):
        build_tiny_model(tiny_tokenizer, hidden_layers=3)


def test_mrope_sections_must_fill_half_the_head_dimension(tiny_tokenizer):
    import dataclasses

    with pytest.raises(ValueError, match="mrope_section"):
        tiny_qwen2_vl_config(tiny_tokenizer, dataclasses.replace(TINY_CONFIG, mrope_section=(2, 2, 2)))


def test_forward_with_an_image_gives_logits_over_the_vocabulary(tiny_tokenizer, tiny_model, image_batch):
    logits = tiny_model(**image_batch).logits
    assert logits.shape == (1, image_batch["input_ids"].shape[1], len(tiny_tokenizer))
    assert torch.isfinite(logits).all()


def test_rope_theta_sets_the_rotary_base_and_changes_the_outputs(tiny_tokenizer, tiny_model, image_batch):
    model = build_tiny_model(tiny_tokenizer, seed=0, rope_theta=100.0)
    assert model.config.text_config.rope_parameters["rope_theta"] == 100.0
    assert tiny_model.config.text_config.rope_parameters["rope_theta"] == TINY_CONFIG.rope_theta == 1_000_000.0
    with torch.no_grad():
        a = tiny_model(**image_batch).logits
        b = model(**image_batch).logits
    assert not torch.allclose(a, b)  # same weights, other positions
