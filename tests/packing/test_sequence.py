"""Packed batch layout, collator and token-budget batching (aguvis.packing.sequence)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from aguvis.chat.tokenize import Tokenised
from aguvis.packing.positions import mrope_position_ids
from aguvis.packing.prefetch import prefetch_to_device
from aguvis.packing.sequence import (
    PackedCollator,
    PackingSpec,
    pack_batch,
    plan_token_batches,
)

SPEC = PackingSpec(image_token_id=99, spatial_merge_size=2, pad_token_id=0)


def text_sample(ids: list[int], labels: list[int]) -> Tokenised:
    return Tokenised(torch.tensor(ids), torch.tensor(labels), None, None)


def test_worked_example_of_the_module_docstring():
    samples = [text_sample([5, 7, 8], [-100, 7, 8]), text_sample([5, 9], [-100, 9])]
    batch = pack_batch(samples, SPEC, pad_to=6)
    assert batch.sequence_ids.tolist() == [[0, 0, 0, 1, 1, 2]]
    assert batch.position_ids[0].tolist() == [[0, 1, 2, 0, 1, 0]]
    assert batch.cu_seqlens.tolist() == [0, 3, 5, 6]
    assert batch.label_positions.tolist() == [0, 1, 3]
    assert batch.label_targets.tolist() == [7, 8, 9]
    assert batch.labels.tolist() == [[-100, 7, 8, -100, 9, -100]]
    assert batch.num_tokens == 5 and batch.num_label_tokens == 3 and batch.max_seqlen == 3


def test_packed_position_ids_are_the_concatenation_of_each_samples_own(make_sample, tiny_model):
    samples = [make_sample(6, 1, seed=1), make_sample(4, 0, seed=2), make_sample(9, 3, seed=3)]
    spec = PackingSpec.from_config(tiny_model.config)
    batch = pack_batch(samples, spec)
    own = [mrope_position_ids(s.input_ids, s.image_grid_thw, image_token_id=spec.image_token_id) for s in samples]
    assert torch.equal(batch.position_ids[:, 0], torch.cat(own, dim=1))


def test_a_label_on_the_first_token_of_a_sample_is_never_predicted_across_the_boundary():
    samples = [text_sample([5, 6], [-100, 6]), text_sample([7, 8], [7, 8])]
    batch = pack_batch(samples, SPEC)
    # state 1 (last of sample 0) must not predict token 2 (first of sample 1)
    assert batch.label_positions.tolist() == [0, 2]
    assert batch.label_targets.tolist() == [6, 8]


def test_rows_hold_at_most_row_length_tokens_and_pad_to_the_longest_row():
    samples = [text_sample([1] * n, [-100] * n) for n in (5, 4, 3, 2)]
    batch = pack_batch(samples, SPEC, row_length=8)
    assert batch.shape == (2, 8)
    assert batch.sample_order == [0, 2, 1, 3]  # first fit: 5+3 and 4+2
    real = batch.sequence_ids < batch.num_samples
    assert real.sum(dim=1).tolist() == [8, 6]


def test_a_sample_longer_than_a_row_is_an_error():
    with pytest.raises(ValueError, match="sample 1 has 9 tokens, more than row_length 8"):
        pack_batch([text_sample([1] * 3, [-100] * 3), text_sample([1] * 9, [-100] * 9)], SPEC, row_length=8)


def test_images_are_concatenated_in_the_order_samples_land_in_the_rows(make_sample, tiny_model):
    spec = PackingSpec.from_config(tiny_model.config)
    long_with_image = make_sample(20, 1, seed=1)
    two_images = make_sample(2, 2, seed=2)
    filler = make_sample(1, 0, seed=3)  # shorter than two_images: it fits where two_images does not
    row = len(long_with_image.input_ids) + len(filler.input_ids)
    batch = pack_batch([long_with_image, two_images, filler], spec, row_length=row)
    assert batch.sample_order == [0, 2, 1]
    assert torch.equal(batch.pixel_values, torch.cat([long_with_image.pixel_values, two_images.pixel_values]))
    # every <|image_pad|> slot in flat order, as many as the images' merged patches
    flat = batch.input_ids.flatten()
    assert torch.equal(torch.nonzero(flat == spec.image_token_id).flatten(), batch.image_token_positions)
    assert len(batch.image_token_positions) == int(batch.image_grid_thw.prod(dim=1).sum()) // 4


def test_the_vision_tower_gets_one_attention_segment_per_image(make_sample, tiny_model):
    batch = pack_batch(
        [make_sample(3, 2, seed=1), make_sample(3, 1, seed=2)], PackingSpec.from_config(tiny_model.config)
    )
    sizes = [int(t * h * w) for t, h, w in batch.image_grid_thw.tolist()]
    assert batch.vision_segments == tuple(sizes)
    assert batch.vision_cu_seqlens.tolist() == [0, *torch.tensor(sizes).cumsum(0).tolist()]
    assert batch.vision_max_seqlen == max(sizes)
    assert batch.vision_position_ids.shape == (sum(sizes), 2)


def test_pixel_dtype_converts_the_patches_only(make_sample, tiny_model):
    sample = make_sample(3, 1, seed=1)
    batch = PackedCollator(PackingSpec.from_config(tiny_model.config), pixel_dtype=torch.bfloat16)([sample])
    assert batch.pixel_values.dtype == torch.bfloat16
    assert torch.equal(batch.pixel_values, sample.pixel_values.to(torch.bfloat16))


def test_pad_to_shorter_than_the_packed_row_is_an_error():
    with pytest.raises(ValueError, match="pad_to=2 is shorter"):
        pack_batch([text_sample([1, 2, 3], [-100, 2, 3])], SPEC, pad_to=2)


def test_a_text_only_batch_has_no_vision_inputs():
    batch = pack_batch([text_sample([1, 2], [-100, 2])], SPEC)
    assert batch.pixel_values is None and batch.vision_cu_seqlens is None and batch.vision_segments == ()


def test_prefetch_on_the_cpu_yields_every_batch_in_order():
    batches = [pack_batch([text_sample([1] * n, [-100] * n)], SPEC) for n in (2, 3, 4)]
    assert [b.num_tokens for b in prefetch_to_device(batches, "cpu")] == [2, 3, 4]


def test_plan_token_batches_docstring_example():
    assert plan_token_batches([6, 5, 4, 3, 2], 8, order=[0, 1, 2, 3, 4], lookahead=5) == [[0, 4], [1, 3], [2]]


@settings(max_examples=60, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 50), min_size=1, max_size=40),
    budget=st.integers(50, 120),
    lookahead=st.integers(1, 10),
)
def test_token_batches_keep_every_sample_once_within_the_budget(lengths, budget, lookahead):
    batches = plan_token_batches(lengths, budget, order=list(range(len(lengths))), lookahead=lookahead)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in b) <= budget for b in batches)


def test_a_sample_over_the_token_budget_is_an_error():
    with pytest.raises(ValueError, match="sample 1 has 30 tokens, more than the token budget 20"):
        plan_token_batches([5, 30], 20, order=[0, 1])


