"""Absolute positions for Qwen2-VL's image tokens (aguvis.model.absolute_positions): the grid and the code."""

from __future__ import annotations

import pytest
import torch
from transformers import Qwen2VLForConditionalGeneration

from aguvis.chat.vision import build_image_processor
from aguvis.model.load import load_model, save_checkpoint_hf
from aguvis.model.absolute_positions import Qwen2VLWithAbsolutePositions, fourier_features, merged_token_centres
from aguvis.model.tiny import build_tiny_model

GRIDS = torch.tensor([[1, 4, 4], [1, 4, 6]])  # two images: 16 and 24 patches


def _patches(seed: int = 0) -> torch.Tensor:
    return torch.randn(int(GRIDS.prod(-1).sum()), 3 * 2 * 14 * 14, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize(
    ("shape", "key"),
    [
        ({"absolute_position_grid": 4}, "absolute_positions.weight"),
        ({"absolute_position_code": 4}, "merger.position_code.weight"),
    ],
    ids=["grid", "code"],
)
def test_zero_absolute_positions_leave_qwen2_vl_s_vision_tower_unchanged(tiny_tokenizer, shape, key):
    tower = build_tiny_model(tiny_tokenizer, **shape).float().model.visual
    plain = build_tiny_model(tiny_tokenizer).float()
    result = plain.model.visual.load_state_dict(tower.state_dict(), strict=False)
    assert result.unexpected_keys == [key] and not result.missing_keys
    pixels = _patches()
    with torch.no_grad():
        with_positions = tower(pixels, grid_thw=GRIDS).pooler_output
        tower.get_parameter(key).zero_()
        zeroed = tower(pixels, grid_thw=GRIDS).pooler_output
        reference = plain.model.visual(pixels, grid_thw=GRIDS).pooler_output
    assert torch.equal(zeroed, reference)
    assert (with_positions - reference).abs().max() > 1e-4


def test_each_patch_gets_the_grid_entry_of_its_place_relative_to_the_image(tiny_tokenizer):
    tower = build_tiny_model(tiny_tokenizer, absolute_position_grid=4).float().model.visual
    table = tower.absolute_positions.weight.detach()  # [side * side, dim], row-major over the 4 x 4 grid
    # the tower's patch order: 2 x 2 merge blocks, row-major inside each
    order = torch.tensor(
        [[2 * br + i, 2 * bc + j] for br in range(2) for bc in range(2) for i in (0, 1) for j in (0, 1)]
    )
    with torch.no_grad():
        got = tower.position_embeddings(torch.tensor([[1, 4, 4]]), order)
    expected = table[order[:, 0] * 4 + order[:, 1]]
    assert torch.allclose(got, expected, atol=1e-6)
    # a 2 x 2 image: each patch sees the mean of the 2 x 2 grid block covering its quarter of the image
    with torch.no_grad():
        small = tower.position_embeddings(torch.tensor([[1, 2, 2]]), torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]]))
    quarter = table.view(4, 4, -1)[:2, 2:].reshape(4, -1).mean(0)  # top-right quarter
    assert torch.allclose(small[1], quarter, atol=1e-6)


def test_precomputed_vision_positions_give_the_same_features(tiny_tokenizer):
    from transformers.vision_utils import get_vision_position_ids

    tower = build_tiny_model(tiny_tokenizer, absolute_position_grid=4).float().model.visual
    pixels = _patches(1)
    positions = get_vision_position_ids(GRIDS, tower.spatial_merge_size)
    with torch.no_grad():
        computed = tower(pixels, grid_thw=GRIDS).pooler_output
        given = tower(pixels, grid_thw=GRIDS, position_ids=positions).pooler_output
    assert torch.equal(computed, given)


def test_the_grid_trains(tiny_tokenizer):
    tower = build_tiny_model(tiny_tokenizer, absolute_position_grid=4).float().train().model.visual
    tower(_patches(), grid_thw=GRIDS).pooler_output.square().sum().backward()
    assert tower.absolute_positions.weight.grad.abs().sum() > 0


def test_checkpoints_with_a_grid_load_as_the_grid_model_and_others_as_qwen2_vl(tiny_tokenizer, tmp_path):
    with_grid = build_tiny_model(tiny_tokenizer, absolute_position_grid=4)
    save_checkpoint_hf(with_grid, tiny_tokenizer, build_image_processor(), tmp_path / "grid")
    save_checkpoint_hf(build_tiny_model(tiny_tokenizer), tiny_tokenizer, build_image_processor(), tmp_path / "plain")
    loaded = load_model(tmp_path / "grid").model
    assert type(loaded) is Qwen2VLWithAbsolutePositions
    assert torch.equal(loaded.model.visual.absolute_positions.weight, with_grid.model.visual.absolute_positions.weight)
    assert type(load_model(tmp_path / "plain").model) is Qwen2VLForConditionalGeneration


def test_merged_token_centres_are_fractions_of_their_own_image():
    from transformers.vision_utils import get_vision_position_ids

    # a 4 x 6 patch image merges to 2 rows x 3 columns; a 2 x 2 one to a single token in the middle
    grids = torch.tensor([[1, 4, 6], [1, 2, 2]])
    centres = merged_token_centres(grids, get_vision_position_ids(grids, 2), 2)
    expected = [[x, y] for y in (0.25, 0.75) for x in (1 / 6, 0.5, 5 / 6)] + [[0.5, 0.5]]
    assert torch.allclose(centres, torch.tensor(expected), atol=1e-6)


def test_fourier_features_are_sines_and_cosines_of_each_axis():
    points = torch.tensor([[0.25, 1.0]])
    features = fourier_features(points, 2)  # x: k = 1, 2; y: k = 1, 2; then the cosines
    angles = torch.pi * torch.tensor([0.25, 0.5, 1.0, 2.0])
    assert torch.allclose(features, torch.cat([angles.sin(), angles.cos()])[None], atol=1e-6)


def test_the_position_code_tells_identical_patches_apart_by_place(tiny_tokenizer):
    """A blank screen gives every merged token the same features, except for the code of its centre."""
    tower = build_tiny_model(tiny_tokenizer, absolute_position_code=4).float().model.visual
    blank = torch.ones(int(GRIDS[1].prod()), 3 * 2 * 14 * 14)
    grid = GRIDS[1:]
    with torch.no_grad():
        features = tower(blank, grid_thw=grid).pooler_output
        expected = tower.merger(tower(blank, grid_thw=grid).last_hidden_state)[0] + tower.merger.position_code(
            fourier_features(torch.tensor([[1 / 6, 0.25], [0.5, 0.25], [5 / 6, 0.25]]), 4)
        )
    assert torch.allclose(features[:3], expected, atol=1e-5)
    assert torch.cdist(features, features).fill_diagonal_(1.0).min() > 1e-3


def test_the_position_code_trains_with_the_merger_when_the_tower_is_frozen(tiny_tokenizer):
    from aguvis.model.freeze import freeze_vision_tower

    model = build_tiny_model(tiny_tokenizer, absolute_position_code=4).float().train()
    freeze_vision_tower(model)
    assert model.model.visual.merger.position_code.weight.requires_grad
    assert not model.model.visual.blocks[0].attn.qkv.weight.requires_grad


def test_checkpoints_with_a_position_code_load_with_it(tiny_tokenizer, tmp_path):
    coded = build_tiny_model(tiny_tokenizer, absolute_position_code=4)
    save_checkpoint_hf(coded, tiny_tokenizer, build_image_processor(), tmp_path / "code")
    loaded = load_model(tmp_path / "code").model
    assert type(loaded) is Qwen2VLWithAbsolutePositions
    assert torch.equal(loaded.model.visual.merger.position_code.weight, coded.model.visual.merger.position_code.weight)
