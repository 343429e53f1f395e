"""Saving and loading Qwen2-VL checkpoints from local folders."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
from PIL import Image
from transformers import Qwen2VLForConditionalGeneration

from aguvis.chat.vision import build_image_processor
from aguvis.model.load import CheckpointFilesError, grow_embeddings, load_model, model_class_for, save_checkpoint_hf
from aguvis.model.tiny import build_tiny_model


@pytest.fixture()
def saved(tmp_path, tiny_tokenizer, tiny_model):
    """A tiny model saved in Hugging Face format with a 448x280 pixel cap."""
    processor = build_image_processor(max_pixels=448 * 280)
    return save_checkpoint_hf(tiny_model, tiny_tokenizer, processor, tmp_path / "tiny")


def test_saved_checkpoint_reloads_with_from_pretrained_and_gives_identical_logits(saved, tiny_model, image_batch):
    reloaded = Qwen2VLForConditionalGeneration.from_pretrained(saved, local_files_only=True).eval()
    with torch.no_grad():
        assert torch.equal(reloaded(**image_batch).logits, tiny_model.eval()(**image_batch).logits)


def test_load_model_returns_identical_logits_and_the_pixel_cap(saved, tiny_tokenizer, tiny_model, image_batch):
    loaded = load_model(saved, max_pixels=448 * 280)
    with torch.no_grad():
        assert torch.equal(loaded.model.eval()(**image_batch).logits, tiny_model.eval()(**image_batch).logits)
    assert loaded.image_processor.size["longest_edge"] == 448 * 280
    assert loaded.tokenizer.get_vocab()["<|diff_marker|>"] == tiny_tokenizer.get_vocab()["<|diff_marker|>"]


def test_a_saved_pixel_normalisation_is_loaded_with_the_model(tmp_path, tiny_tokenizer, tiny_model):
    processor = build_image_processor(max_pixels=448 * 280, image_mean=[1.0, 1.0, 1.0], image_std=[0.25] * 3)
    folder = save_checkpoint_hf(tiny_model, tiny_tokenizer, processor, tmp_path / "white-zero")
    loaded = load_model(folder, max_pixels=448 * 280)
    assert list(loaded.image_processor.image_mean) == [1.0, 1.0, 1.0]
    white, grey = Image.new("RGB", (56, 56), "white"), Image.new("RGB", (56, 56), (191, 191, 191))
    pixels = loaded.image_processor(images=[white, grey], return_tensors="pt")["pixel_values"]
    half = pixels.shape[0] // 2
    assert torch.all(pixels[:half] == 0)  # white is zero: mean 1, whatever the std
    assert torch.allclose(pixels[half:], torch.full_like(pixels[half:], (191 / 255 - 1) / 0.25), atol=1e-5)


def test_a_checkpoint_without_a_preprocessor_config_gets_qwen2_vl_normalisation(saved):
    (saved / "preprocessor_config.json").unlink()
    assert list(load_model(saved).image_processor.image_mean) == list(build_image_processor().image_mean)


def test_a_bad_saved_pixel_normalisation_is_named(saved):
    config = saved / "preprocessor_config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "image_std": [0.2, 0.0, 0.2]}))
    with pytest.raises(ValueError, match=r"preprocessor_config.json: image_std must be three numbers"):
        load_model(saved)
    config.write_text("{not json")
    with pytest.raises(ValueError, match=r"preprocessor_config.json: not valid JSON"):
        load_model(saved)


def test_saved_generation_config_stops_at_the_diff_marker(saved, tiny_tokenizer):
    generation = json.loads((saved / "generation_config.json").read_text())
    assert tiny_tokenizer.convert_tokens_to_ids("<|diff_marker|>") in generation["eos_token_id"]


def test_saving_with_a_dtype_casts_the_weights(tmp_path, tiny_tokenizer, tiny_model):
    path = save_checkpoint_hf(
        tiny_model, tiny_tokenizer, build_image_processor(), tmp_path / "bf16", dtype=torch.bfloat16
    )
    reloaded = Qwen2VLForConditionalGeneration.from_pretrained(path, dtype="auto", local_files_only=True)
    assert reloaded.model.language_model.embed_tokens.weight.dtype == torch.bfloat16
    assert tiny_model.model.language_model.embed_tokens.weight.dtype == torch.float32


def test_saving_again_replaces_the_folder(saved, tiny_tokenizer):
    other = build_tiny_model(tiny_tokenizer, seed=5)
    save_checkpoint_hf(other, tiny_tokenizer, build_image_processor(), saved)
    reloaded = Qwen2VLForConditionalGeneration.from_pretrained(saved, local_files_only=True)
    key = "model.language_model.embed_tokens.weight"
    assert torch.equal(reloaded.state_dict()[key], other.state_dict()[key])
    assert not any(p.name.startswith(".") for p in saved.parent.iterdir())


@pytest.mark.parametrize(
    ("remove", "named"),
    [
        (["config.json"], "config.json"),
        (["model.safetensors"], "model.safetensors"),
        (["tokenizer.json"], "tokenizer.json"),
    ],
)
def test_missing_files_are_named(saved, remove, named):
    for name in remove:
        (saved / name).unlink()
    with pytest.raises(CheckpointFilesError, match=named.replace(".", r"\.")):
        load_model(saved)


def test_a_folder_that_does_not_exist_is_not_downloaded(tmp_path):
    with pytest.raises(CheckpointFilesError, match="only local directories"):
        load_model(tmp_path / "Qwen" / "Qwen2-VL-7B-Instruct")


def test_unsupported_model_types_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="llava"):
        model_class_for(SimpleNamespace(model_type="llava"), tmp_path)


def test_embeddings_grow_with_new_rows_at_the_old_mean(tiny_tokenizer):
    model = build_tiny_model(tiny_tokenizer)
    old = model.get_input_embeddings().weight.detach().clone()
    assert grow_embeddings(model, old.shape[0] + 2)
    new = model.get_input_embeddings().weight.detach()
    assert new.shape[0] == old.shape[0] + 2
    assert torch.equal(new[: old.shape[0]], old)
    assert torch.allclose(new[-1], old.mean(dim=0))
    assert torch.allclose(model.get_output_embeddings().weight[-2], model.get_output_embeddings().weight[:-2].mean(0))


def test_embeddings_large_enough_are_left_alone(tiny_tokenizer):
    model = build_tiny_model(tiny_tokenizer)
    rows = model.get_input_embeddings().weight.shape[0]
    assert not grow_embeddings(model, rows - 10)
    assert model.get_input_embeddings().weight.shape[0] == rows


def test_base_qwen2_vl_tokenizer_gains_the_agent_tokens_and_the_model_grows(tmp_path, qwen2_vl_tokenizer_dir):
    from transformers import AutoTokenizer

    base = AutoTokenizer.from_pretrained(qwen2_vl_tokenizer_dir, local_files_only=True)
    assert "<|recipient|>" not in base.get_vocab()
    model = build_tiny_model(
        base, hidden_size=16, num_attention_heads=2, num_key_value_heads=1, mrope_section=(1, 1, 2)
    )
    path = save_checkpoint_hf(model, base, build_image_processor(), tmp_path / "base")
    loaded = load_model(path)
    assert loaded.tokenizer.convert_tokens_to_ids(["<|recipient|>", "<|diff_marker|>"]) == [151657, 151658]
    assert loaded.model.get_input_embeddings().weight.shape[0] == 151659
