"""The trainer with sequence packing (data.packing) and preloading (data.preload), on the tiny model.

The packed step must train the same model as the padded one: with a token
budget that holds the whole data set, every step of both runs sees every
sample, so their losses and weights agree to fp32 rounding.
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from aguvis.train.dataset import DataPosition, TokenBudgetStepSampler
from aguvis.train.metrics import read_metrics

from .test_train_trainer import tiny_config, train, training_curve

WHOLE_SET = {"token_budget": 100_000}


def packed_config(records, output, packing=None, **sections):
    data = {"packing": packing or {"token_budget": 2048}, **sections.pop("data", {})}
    return tiny_config(records, output, data=data, **sections)


def losses(output):
    return [m["loss"] for m in read_metrics(output / "metrics.jsonl")]


@pytest.fixture(scope="module")
def whole_set_runs(grounding_records, tmp_path_factory):
    """Three steps over all 8 samples each: padded, packed, packed + preloaded (patches kept in
    the compute dtype, and as colour levels)."""
    root = tmp_path_factory.mktemp("whole")
    common = dict(
        batch={"micro_batch_size": 8, "grad_accumulation": 1},
        run={"max_steps": 3, "save_every": 0, "resume": "none", "log_every": 1},
        gradient_checkpointing=False,
    )
    runs = {}
    for name, data in {
        "padded": {"packing": None},
        "packed": {"packing": WHOLE_SET},
        "preloaded": {"packing": WHOLE_SET, "preload": True},
        "uint8-pool": {"packing": WHOLE_SET, "preload": True, "preload_dtype": "uint8"},
    }.items():
        output = root / name
        _, weights = train(tiny_config(grounding_records, output, data=data, **common))
        runs[name] = {"output": output, "weights": weights}
    return runs


def test_packed_training_follows_the_padded_run(whole_set_runs):
    padded, packed = whole_set_runs["padded"], whole_set_runs["packed"]
    a, b = losses(padded["output"]), losses(packed["output"])
    assert len(a) == len(b) == 3
    assert max(abs(x - y) / x for x, y in zip(a, b, strict=True)) < 1e-5
    assert a[-1] < a[0]  # it trained
    for name, weight in padded["weights"].items():
        other = packed["weights"][name]
        assert torch.allclose(weight, other, rtol=1e-4, atol=1e-6), name


def test_preloading_changes_nothing(whole_set_runs):
    packed, preloaded = whole_set_runs["packed"], whole_set_runs["preloaded"]
    assert losses(packed["output"]) == losses(preloaded["output"])
    assert all(torch.equal(packed["weights"][k], preloaded["weights"][k]) for k in packed["weights"])


def test_patches_kept_as_colour_levels_train_as_the_fp32_ones(whole_set_runs):
    preloaded, levels = whole_set_runs["preloaded"], whole_set_runs["uint8-pool"]
    a, b = losses(preloaded["output"]), losses(levels["output"])
    assert max(abs(x - y) / x for x, y in zip(a, b, strict=True)) < 1e-6
    for name, weight in preloaded["weights"].items():  # Adam turns fp32 rounding in tiny gradients into ~1e-6
        assert torch.allclose(weight, levels["weights"][name], rtol=0, atol=1e-5), name


def test_packed_metrics_count_real_tokens(whole_set_runs):
    padded = read_metrics(whole_set_runs["padded"]["output"] / "metrics.jsonl")
    packed = read_metrics(whole_set_runs["packed"]["output"] / "metrics.jsonl")
    assert [(m["tokens"], m["label_tokens"]) for m in padded] == [(m["tokens"], m["label_tokens"]) for m in packed]


def test_a_packed_run_exports_a_model_that_loads_with_its_own_attention(whole_set_runs, grounding_records):
    from aguvis.agent.local import LocalBackend  # noqa: F401  (the inference stack imports cleanly)
    from aguvis.model.load import load_model

    final = whole_set_runs["preloaded"]["output"] / "model"
    config = json.loads((final / "config.json").read_text())
    assert "aguvis" not in json.dumps(config)
    loaded = load_model(final, max_pixels=448 * 280)
    ids = torch.tensor([[1, 2, 3, 4]])
    with torch.no_grad():
        out = loaded.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=3)
    assert out.shape[1] > ids.shape[1]


@pytest.fixture(scope="module")
def packed_run(grounding_records, tmp_path_factory):
    """Six packed steps of two micro-batches, checkpoints at 3 and 6."""
    output = tmp_path_factory.mktemp("packed") / "out"
    config = packed_config(grounding_records, output, data={"preload": True})
    final, weights = train(config)
    return {"config": config, "output": output, "weights": weights, "final": final}


def test_packed_resume_gives_the_same_weights_as_an_uninterrupted_run(packed_run, grounding_records, tmp_path):
    interrupted = tmp_path / "out"
    shutil.copytree(packed_run["output"], interrupted)
    shutil.rmtree(interrupted / "checkpoints" / "step-00000006")
    shutil.rmtree(interrupted / "model")
    _, resumed = train(packed_config(grounding_records, interrupted, data={"preload": True}))
    assert all(torch.equal(resumed[k], packed_run["weights"][k]) for k in resumed)
    assert training_curve(interrupted) == training_curve(packed_run["output"])


def test_packed_checkpoints_count_micro_batches(packed_run):
    state = json.loads((packed_run["output"] / "checkpoints" / "step-00000003" / "trainer.json").read_text())
    assert state["data_position"]["unit"] == "micro_batches"


def test_resuming_a_packed_checkpoint_without_packing_is_refused(packed_run, grounding_records, tmp_path):
    from aguvis.train.trainer import Trainer

    copy = tmp_path / "out"
    shutil.copytree(packed_run["output"], copy)
    with pytest.raises(ValueError, match="data.packing must be the same"):
        Trainer(tiny_config(grounding_records, copy))
    assert not torch.distributed.is_initialized()


def test_preloading_a_record_with_a_missing_screenshot_names_it(grounding_records, tmp_path):
    from aguvis.train.dataset import SampleError
    from aguvis.train.trainer import Trainer

    folder = tmp_path / "data"
    shutil.copytree(grounding_records.parent, folder)
    first = json.loads((folder / grounding_records.name).read_text().splitlines()[0])
    (folder / first["image"]).unlink()
    config = packed_config(folder / grounding_records.name, tmp_path / "out", data={"preload": True})
    with pytest.raises(SampleError, match=rf"training sample \d+ \({first['image']}"):
        Trainer(config)


# ------------------------------------------------------------ preload


def test_preloaded_samples_equal_the_tokenised_records(grounding_records, record_tokenizer):
    from aguvis.train.dataset import load_samples
    from aguvis.train.preload import preload

    samples = load_samples(records=grounding_records, images_root=grounding_records.parent)
    doubled = samples + samples[:3]  # records sharing a screenshot share its patches
    dataset, pool = preload(doubled, record_tokenizer, device="cpu", dtype=torch.float32, workers=2, progress=False)
    patches = sum(int(record_tokenizer(s.record, s.images_root).pixel_values.shape[0]) for s in samples)
    assert pool.patches.shape == (patches, 3 * 14 * 14)  # each patch's frame once, repeated when gathered
    for i, sample in enumerate(doubled):
        expected = record_tokenizer(sample.record, sample.images_root)
        got = dataset[i]
        assert torch.equal(got.input_ids, expected.input_ids) and torch.equal(got.labels, expected.labels)
        assert torch.equal(got.image_grid_thw, expected.image_grid_thw)
        assert torch.equal(pool.gather(got.pixel_rows), expected.pixel_values)
        assert dataset.lengths[i] == len(expected.input_ids)


def test_token_lengths_match_the_tokenised_records(grounding_records, record_tokenizer):
    from aguvis.train.dataset import load_samples
    from aguvis.train.preload import token_lengths

    samples = load_samples(records=grounding_records, images_root=grounding_records.parent)
    for workers in (0, 2):
        lengths = token_lengths(samples, record_tokenizer, workers=workers, progress=False)
        assert lengths == [len(record_tokenizer(s.record, s.images_root).input_ids) for s in samples]


def test_packed_batches_gather_their_patches_from_the_pool(grounding_records, record_tokenizer):
    from aguvis.packing.sequence import PackingSpec, pack_batch
    from aguvis.train.dataset import load_samples
    from aguvis.train.preload import preload

    samples = load_samples(records=grounding_records, images_root=grounding_records.parent)[:3]
    dataset, pool = preload(samples, record_tokenizer, device="cpu", dtype=torch.float32, workers=0, progress=False)
    spec = PackingSpec(image_token_id=record_tokenizer._image_pad)
    direct = pack_batch([record_tokenizer(s.record, s.images_root) for s in samples], spec)
    pooled = pack_batch([dataset[i] for i in range(3)], spec)
    assert pooled.pixel_values is None and pooled.pixel_rows is not None
    filled = pooled.with_pixels(pool)
    assert torch.equal(filled.pixel_values, direct.pixel_values)
    _, levels = preload(samples, record_tokenizer, device="cpu", dtype=torch.uint8, workers=0, progress=False)
    assert levels.patches.dtype == torch.uint8 and levels.patches.shape == pool.patches.shape
    normalised = pooled.with_pixels(levels).pixel_values
    assert normalised.dtype == torch.float32
    assert torch.allclose(normalised, direct.pixel_values, rtol=0, atol=1e-5)
    assert len(levels.patches.unique()) > 2  # real levels, not a blank pool
    assert torch.equal(filled.position_ids, direct.position_ids)
    assert torch.equal(filled.vision_cu_seqlens, direct.vision_cu_seqlens)


# ------------------------------------------------------------ the token-budget step sampler


def budget_sampler(world_size=1, rank=0, **kw):
    args = dict(lengths=[(i * 37) % 90 + 10 for i in range(200)], token_budget=300, grad_accumulation=2, seed=0)
    args.update(kw)
    return TokenBudgetStepSampler(world_size=world_size, rank=rank, **args)


def test_budget_micro_batches_fit_and_ranks_see_disjoint_samples():
    ranks = [budget_sampler(world_size=3, rank=r) for r in range(3)]
    position = DataPosition(unit="micro_batches")
    batches = [b for s in ranks for b in s.micro_batches(position)]
    seen = [i for b in batches for i in b]
    assert len(seen) == len(set(seen))
    assert all(sum(ranks[0].lengths[i] for i in b) <= 300 for b in batches)
    plan = ranks[0].plan(0)
    used = ranks[0].steps_in_epoch(0) * 6
    assert sorted(seen) == sorted(i for b in plan[:used] for i in b)
    assert len(plan) - used < 6  # only the tail that cannot fill a step is dropped


def test_budget_order_is_seeded_per_epoch_and_resumes_exactly():
    s = budget_sampler()
    assert s.plan(1) == budget_sampler().plan(1) and s.plan(0) != s.plan(1)
    full = list(s.micro_batches(DataPosition(epoch=1, unit="micro_batches")))
    position = DataPosition(epoch=1, unit="micro_batches")
    for _ in range(5):
        position = s.advance(position)
    assert list(s.micro_batches(position)) == full[5:]
    for _ in range(len(full) - 5):
        position = s.advance(position)
    assert position == DataPosition(epoch=2, consumed=0, unit="micro_batches")


def test_budget_sampler_refuses_a_position_between_ranks():
    with pytest.raises(ValueError, match="not a multiple of the world size"):
        next(budget_sampler(world_size=2).micro_batches(DataPosition(consumed=3, unit="micro_batches")))


def test_packed_training_of_the_whole_vision_tower_under_checkpointing_follows_the_padded_run(
    grounding_records, tmp_path
):
    common = dict(
        batch={"micro_batch_size": 8, "grad_accumulation": 1},
        run={"max_steps": 2, "save_every": 0, "resume": "none"},
        gradient_checkpointing=True,
        freeze_vision=False,
    )
    _, padded = train(tiny_config(grounding_records, tmp_path / "padded", **common))
    _, packed = train(tiny_config(grounding_records, tmp_path / "packed", data={"packing": WHOLE_SET}, **common))
    a, b = losses(tmp_path / "padded"), losses(tmp_path / "packed")
    assert max(abs(x - y) / x for x, y in zip(a, b, strict=True)) < 1e-5
    block = "model.visual.blocks.0.mlp.fc1.weight"
    initial = initial_weights()
    assert not torch.equal(padded[block], initial[block])  # the tower trained
    # atol 1e-5 (steps are ~1e-3): a key bias gets only rounding noise as its gradient (softmax ignores a
    # constant per query), which Adam turns into steps of its own; everything else agrees to 1e-6.
    assert all(torch.allclose(padded[k], packed[k], rtol=1e-4, atol=1e-5) for k in padded)


def initial_weights():
    from aguvis.model.tiny import build_tiny_model, build_tiny_tokenizer

    return build_tiny_model(build_tiny_tokenizer(), seed=0).state_dict()


@pytest.mark.timeout(120)
def test_preloading_in_workers_after_the_parent_ran_parallel_torch_ops(
    grounding_records, record_tokenizer, monkeypatch
):
    """A forked worker inherits the parent's OpenMP pool in a broken state; preload must not hang on it."""
    from aguvis.train import preload as preload_module
    from aguvis.train.dataset import load_samples

    monkeypatch.setattr(preload_module, "CHUNK", 2)  # several chunks of screenshots, so workers fork
    big = torch.randn(4000, 1000)
    torch.cat([big.to(torch.bfloat16), big.to(torch.bfloat16)]).sum()  # the parent's thread pool is now running
    samples = load_samples(records=grounding_records, images_root=grounding_records.parent)
    _, pool = preload_module.preload(
        samples, record_tokenizer, device="cpu", dtype=torch.bfloat16, workers=2, progress=False
    )
    assert pool.patches.shape[0] == 8 * 640 and pool.patches.dtype == torch.bfloat16


def test_preloading_with_shift_augmentation_adds_shifted_copies(grounding_records, record_tokenizer):
    from PIL import Image

    from aguvis.chat.vision import load_rgb_image
    from aguvis.data.augment import shift_image, shift_record
    from aguvis.train.dataset import load_samples
    from aguvis.train.preload import ShiftAugment, preload

    samples = load_samples(records=grounding_records, images_root=grounding_records.parent)
    augment = ShiftAugment(copies=2, max_shift=0.1, seed=3)
    dataset, pool = preload(
        samples, record_tokenizer, device="cpu", dtype=torch.float32, workers=2, progress=False, augment=augment
    )
    assert len(dataset) == 3 * len(samples) and pool.patches.shape[0] == 3 * 8 * 640
    table = dataset.images
    moved = 0
    for k in range(len(samples), len(dataset)):
        original = samples[k % len(samples)]
        (image,) = dataset.image_ids[k]
        dx, dy = table.shifts[image]
        moved += (dx, dy) != (0, 0)
        assert abs(dx) <= 0.1 * 448 and abs(dy) <= 0.1 * 280
        with Image.open(table.sources[image]) as im:
            width, height = im.size
        expected = record_tokenizer(shift_record(original.record, dx / width, dy / height), original.images_root)
        shifted_screen = shift_image(load_rgb_image(table.sources[image]), dx, dy)
        pixels, _ = record_tokenizer.vision_inputs([shifted_screen], [expected.pixel_values.shape[0] // 4])
        got = dataset[k]
        assert torch.equal(got.input_ids, expected.input_ids)
        assert torch.equal(pool.gather(got.pixel_rows), pixels)
    assert moved >= len(samples)  # nearly every copy moved
    again, _ = preload(
        samples, record_tokenizer, device="cpu", dtype=torch.float32, workers=0, progress=False, augment=augment
    )
    assert again.images.shifts == table.shifts  # seeded


def test_records_marked_augment_false_get_no_shifted_copy(grounding_records, record_tokenizer):
    import dataclasses

    from aguvis.train.dataset import load_samples
    from aguvis.train.preload import ShiftAugment, preload

    samples = load_samples(records=grounding_records, images_root=grounding_records.parent)
    marked = [
        dataclasses.replace(s, record=dataclasses.replace(s.record, extra={**s.record.extra, "augment": False}))
        if i % 2 else s
        for i, s in enumerate(samples)
    ]
    dataset, pool = preload(
        marked, record_tokenizer, device="cpu", dtype=torch.float32, workers=0, progress=False,
        augment=ShiftAugment(copies=2, max_shift=0.1),
    )
    unmarked = len(samples) - len(samples) // 2
    assert len(dataset) == len(samples) + 2 * unmarked and pool.patches.shape[0] == (len(samples) + 2 * unmarked) * 640
    copied = {dataset.images.sources[dataset.image_ids[k][0]] for k in range(len(samples), len(dataset))}
    assert copied == {dataset.images.sources[dataset.image_ids[i][0]] for i in range(0, len(samples), 2)}


@pytest.mark.parametrize("retype", [True, False])
def test_shifted_copies_of_a_record_with_hidden_text_get_fresh_letters(grounding_records, record_tokenizer, retype):
    import dataclasses

    from aguvis.data.records import Turn
    from aguvis.train.dataset import load_samples
    from aguvis.train.preload import ShiftAugment, preload

    samples = load_samples(records=grounding_records, images_root=grounding_records.parent)[:2]
    goal = Turn("human", 'Type "Qx7" here')
    marked = [
        dataclasses.replace(
            s,
            record=dataclasses.replace(
                s.record,
                conversations=[s.record.conversations[0], *s.record.conversations[1:], goal],
                extra={**s.record.extra, "hidden_text": ["Qx7"]},
            ),
        )
        for s in samples
    ]
    dataset, _ = preload(
        marked, record_tokenizer, device="cpu", dtype=torch.float32, workers=0, progress=False,
        augment=ShiftAugment(copies=3, max_shift=0.1, retype=retype),
    )
    texts = [record_tokenizer.tokenizer.decode(dataset[k].input_ids) for k in range(len(dataset))]
    assert all('"Qx7"' in text for text in texts[:2])  # the originals keep theirs
    copies = texts[2:]
    assert len(copies) == 6
    if retype:
        assert not any('"Qx7"' in text for text in copies)
        assert len({text.split('Type "')[1][:3] for text in copies}) > 1  # each copy its own letters
    else:
        assert all('"Qx7"' in text for text in copies)


def test_a_trainer_trains_on_shifted_copies(grounding_records, tmp_path):
    from aguvis.train.trainer import Trainer

    config = packed_config(
        grounding_records,
        tmp_path / "out",
        data={"preload": True, "augment": {"copies": 1, "max_shift": 0.1}},
        run={"max_steps": 2, "save_every": 0},
    )
    trainer = Trainer(config)
    try:
        assert len(trainer.dataset) == 16
        trainer.train()
    finally:
        trainer.close()
    assert len(read_metrics(tmp_path / "out" / "metrics.jsonl")) == 2


@pytest.mark.timeout(180)
def test_preloading_many_screens_keeps_few_files_open(grounding_records, record_tokenizer):
    """Results come back from workers through shared memory, one file descriptor per tensor: the
    screens' grids must not each stay open (36k screens once ran a GPU machine out of descriptors)."""
    import os
    import resource

    from aguvis.train.dataset import load_samples
    from aguvis.train.preload import ShiftAugment, preload

    samples = load_samples(records=grounding_records, images_root=grounding_records.parent)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    open_now = len(os.listdir("/proc/self/fd"))
    resource.setrlimit(resource.RLIMIT_NOFILE, (open_now + 150, hard))
    try:  # 8 x 41 = 328 screens, more than the descriptors left
        dataset, pool = preload(
            samples,
            record_tokenizer,
            device="cpu",
            dtype=torch.bfloat16,
            workers=2,
            progress=False,
            augment=ShiftAugment(copies=40, max_shift=0.1),
        )
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert len(dataset.images.grids) == 328 and pool.patches.shape[0] == 328 * 640
