"""A packed row computes exactly what its samples compute one by one.

Reference: each sample alone through Hugging Face's own forward (SDPA, its
own ``get_rope_index`` positions), the summed cross-entropy of its label
tokens. Packed: the same samples in one row through ``packed_forward``.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from aguvis.packing.attention import AttentionBackend, enable_packed_attention
from aguvis.packing.forward import PackedLabelLossModel, packed_forward
from aguvis.packing.sequence import PackingSpec, pack_batch

ROW_CASES = [(samples, images) for samples in (1, 2, 5) for images in (0, 1, 3)]


def reference_logits(model, samples) -> torch.Tensor:
    """Logits predicting each label token, each sample alone through the
    model's own forward, samples in order: ``[N, V]``."""
    rows = []
    for s in samples:
        image_types = (s.input_ids == model.config.image_token_id).int()[None]
        out = model(
            input_ids=s.input_ids[None],
            pixel_values=s.pixel_values,
            image_grid_thw=s.image_grid_thw,
            mm_token_type_ids=image_types if s.pixel_values is not None else None,
            use_cache=False,
        )
        rows.append(out.logits[0, :-1][s.labels[1:] != -100])
    return torch.cat(rows)


def reference_loss(model, samples) -> torch.Tensor:
    """Sum of the samples' token losses, each sample alone."""
    targets = torch.cat([s.labels[1:][s.labels[1:] != -100] for s in samples])
    return F.cross_entropy(reference_logits(model, samples), targets, reduction="sum")


def packed_logits(model, samples, backend, **pack_options) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits at the label positions of the packed batch, and their targets."""
    batch = pack_batch(samples, PackingSpec.from_config(model.config), **pack_options)
    return model.lm_head(packed_forward(model, batch, backend)), batch.label_targets


def packed_loss(model, samples, backend, **pack_options) -> torch.Tensor:
    logits, targets = packed_logits(model, samples, backend, **pack_options)
    return F.cross_entropy(logits, targets, reduction="sum")


def row_samples(make_sample, n_samples: int, n_images: int):
    """``n_samples`` samples sharing ``n_images`` images (round robin), text lengths 5..17."""
    per_sample = [n_images // n_samples + (k < n_images % n_samples) for k in range(n_samples)]
    return [make_sample(5 + 3 * k, per_sample[k], seed=10 * n_samples + k) for k in range(n_samples)]


def gradients(model) -> dict[str, torch.Tensor]:
    return {name: p.grad.detach().clone() for name, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("backend", [AttentionBackend.VARLEN, AttentionBackend.SDPA])
@pytest.mark.parametrize(("n_samples", "n_images"), ROW_CASES)
def test_packed_row_loss_and_gradients_equal_samples_run_separately(
    tiny_model, make_sample, backend, n_samples, n_images
):
    samples = row_samples(make_sample, n_samples, n_images)
    reference = copy.deepcopy(tiny_model)
    expected = reference_loss(reference, samples)
    expected.backward()

    enable_packed_attention(tiny_model)
    loss = packed_loss(tiny_model, samples, backend, pad_to_multiple_of=16)
    loss.backward()

    assert abs(loss.item() - expected.item()) / expected.item() < 1e-5
    want, got = gradients(reference), gradients(tiny_model)
    assert set(got) == set(want)
    for name, grad in want.items():
        cosine = F.cosine_similarity(grad.flatten(), got[name].flatten(), dim=0).item()
        assert cosine > 0.9999, f"{name}: cosine {cosine}"


@pytest.mark.parametrize(("n_samples", "n_images"), [(2, 1), (5, 3)])
def test_flex_attention_packed_loss_equals_samples_run_separately(tiny_model, make_sample, n_samples, n_images):
    # FlexAttention has no backward pass on the CPU: the forward is compared here.
    samples = row_samples(make_sample, n_samples, n_images)
    with torch.no_grad():
        expected = reference_loss(tiny_model, samples)
        enable_packed_attention(tiny_model)
        loss = packed_loss(tiny_model, samples, AttentionBackend.FLEX)
    assert abs(loss.item() - expected.item()) / expected.item() < 1e-5


def test_samples_split_over_several_rows_give_the_same_loss(tiny_model, make_sample):
    samples = row_samples(make_sample, 5, 3)
    with torch.no_grad():
        expected = reference_loss(tiny_model, samples)
        enable_packed_attention(tiny_model)
        longest = max(len(s.input_ids) for s in samples)
        for backend in (AttentionBackend.VARLEN, AttentionBackend.SDPA):
            loss = packed_loss(tiny_model, samples, backend, row_length=longest + 10)
            assert abs(loss.item() - expected.item()) / expected.item() < 1e-5


def test_images_in_a_row_are_encoded_as_if_alone(tiny_model, make_sample):
    samples = [make_sample(4, 2, seed=1), make_sample(4, 1, seed=2)]
    visual = tiny_model.model.visual
    with torch.no_grad():
        alone = [
            visual(s.pixel_values[start:stop], grid_thw=grid[None]).pooler_output
            for s in samples
            for grid, start, stop in _image_slices(s)
        ]
        enable_packed_attention(tiny_model)
        batch = pack_batch(samples, PackingSpec.from_config(tiny_model.config))
        packed = visual(
            batch.pixel_values,
            grid_thw=batch.image_grid_thw,
            cu_seqlens=batch.vision_cu_seqlens,
            max_seqlen=batch.vision_max_seqlen,
            position_ids=batch.vision_position_ids,
        ).pooler_output
    torch.testing.assert_close(packed, torch.cat(alone), rtol=1e-5, atol=1e-6)


def _image_slices(sample):
    start = 0
    for grid in sample.image_grid_thw:
        stop = start + int(grid.prod())
        yield grid, start, stop
        start = stop


def test_packed_logits_equal_the_logits_of_samples_run_separately(tiny_model, make_sample):
    samples = row_samples(make_sample, 5, 3)
    with torch.no_grad():
        expected = reference_logits(tiny_model, samples)
        enable_packed_attention(tiny_model)
        logits, _ = packed_logits(tiny_model, samples, AttentionBackend.VARLEN)
    torch.testing.assert_close(logits, expected, rtol=1e-4, atol=1e-5)


def _packed_logits_of(model, batch, backend) -> torch.Tensor:
    return model.lm_head(packed_forward(model, batch, backend))


def test_positions_over_the_whole_row_would_change_the_logits(tiny_model, make_sample):
    # The comparisons have teeth: one running position counter through the
    # row (the classic packing bug) changes the logits far beyond the tolerance.
    samples = row_samples(make_sample, 2, 2)
    with torch.no_grad():
        expected = reference_logits(tiny_model, samples)
        enable_packed_attention(tiny_model)
        batch = pack_batch(samples, PackingSpec.from_config(tiny_model.config))
        batch.position_ids = torch.arange(batch.input_ids.shape[1]).expand(3, 1, -1).clone()
        logits = _packed_logits_of(tiny_model, batch, AttentionBackend.VARLEN)
    assert (logits - expected).abs().max() > 1e-3


def test_attention_across_samples_would_change_the_logits(tiny_model, make_sample):
    samples = row_samples(make_sample, 2, 2)
    with torch.no_grad():
        expected = reference_logits(tiny_model, samples)
        enable_packed_attention(tiny_model)
        batch = pack_batch(samples, PackingSpec.from_config(tiny_model.config))
        batch.sequence_ids = torch.zeros_like(batch.sequence_ids)  # one "sample" spanning the row
        logits = _packed_logits_of(tiny_model, batch, AttentionBackend.SDPA)
    assert (logits - expected).abs().max() > 1e-3


def test_packed_label_loss_model_sums_the_token_losses(tiny_model, make_sample):
    samples = row_samples(make_sample, 2, 3)
    with torch.no_grad():
        expected = reference_loss(tiny_model, samples)
        enable_packed_attention(tiny_model)
        loss = PackedLabelLossModel(tiny_model, chunk_size=3)(
            pack_batch(samples, PackingSpec.from_config(tiny_model.config))
        )
    assert abs(loss.item() - expected.item()) / expected.item() < 1e-5


def test_a_batch_without_labels_still_reaches_every_parameter_in_the_loss(tiny_model, make_sample):
    sample = make_sample(6, 1, seed=3)
    sample.labels[:] = -100
    enable_packed_attention(tiny_model)
    loss = PackedLabelLossModel(tiny_model)(pack_batch([sample], PackingSpec.from_config(tiny_model.config)))
    loss.backward()
    assert loss.item() == 0.0
    assert tiny_model.model.language_model.layers[0].mlp.up_proj.weight.grad is not None


@pytest.mark.parametrize(
    ("shape", "name", "frozen"),
    [
        ({"absolute_position_grid": 4}, "model.visual.absolute_positions.weight", False),
        ({"absolute_position_code": 4}, "model.visual.merger.position_code.weight", False),
        ({"absolute_position_code": 4}, "model.visual.merger.position_code.weight", True),
    ],
    ids=["grid", "code", "code-frozen-tower"],
)
def test_a_vision_tower_with_absolute_positions_packs_exactly(tiny_tokenizer, make_sample, shape, name, frozen):
    from aguvis.model.freeze import freeze_vision_tower
    from aguvis.model.tiny import build_tiny_model

    model = build_tiny_model(tiny_tokenizer, seed=0, **shape).float().train()
    if frozen:  # the packed forward then runs the merger (and the code) apart from the frozen blocks
        freeze_vision_tower(model)
    samples = row_samples(make_sample, 5, 3)
    reference = copy.deepcopy(model)
    expected = reference_loss(reference, samples)
    expected.backward()
    enable_packed_attention(model)
    loss = packed_loss(model, samples, AttentionBackend.VARLEN)
    loss.backward()
    assert abs(loss.item() - expected.item()) / expected.item() < 1e-5
    want, got = gradients(reference)[name], gradients(model)[name]
    assert want.abs().sum() > 0
    assert F.cosine_similarity(want.flatten(), got.flatten(), dim=0).item() > 0.9999
