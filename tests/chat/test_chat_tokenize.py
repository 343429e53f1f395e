"""Tokenisation: exact loss mask, ids equal to tokenising the rendered text,
image pad counts from the processor's grid, length limit, inference prompts."""

from __future__ import annotations

import shutil

import pytest
import torch

from aguvis.chat.prompts import GROUNDING_SYSTEM_PROMPT, agent_system_prompt, user_instruction
from aguvis.chat.template import ConversationError, Mode, generation_prefix, render
from aguvis.chat.tokenize import IGNORE_INDEX, RecordTokenizer, SequenceTooLongError
from aguvis.chat.vision import image_token_count, still_patch_levels
from aguvis.data import Record, RecordError, Turn

INSTRUCTION = user_instruction("Turn on news alerts in BBC News", ["Open BBC News"])
MONOLOGUE = "Thought: The alerts toggle is off, so I tap it."
ACTION = "pyautogui.click(x=0.9, y=0.05)"


def stage2_record(image: str) -> Record:
    """One stage-2 step: screenshot + instruction, an `all` monologue closed by
    <|im_end|>, then the `os` action closed by <|diff_marker|>."""
    return Record(
        images=[image],
        conversations=[
            Turn(role="human", value="<image>\n" + INSTRUCTION),
            Turn(role="gpt", value=MONOLOGUE, recipient="all", end_turn=False),
            Turn(role="gpt", value=ACTION, recipient="os", end_turn=True),
        ],
    )


def grounding_record(image: str) -> Record:
    return Record(
        images=[image],
        conversations=[Turn(role="human", value="<image>Click the OK button"), Turn(role="gpt", value=ACTION)],
    )


def mask_runs(tokenizer, sample) -> list[tuple[bool, str]]:
    """Maximal runs of tokens with the same in-loss state, each decoded:
    [(False, "<|im_start|>system..."), (True, "all\\n..."), ...]."""
    runs: list[tuple[bool, list[int]]] = []
    for token, label in zip(sample.input_ids.tolist(), sample.labels.tolist()):
        trained = label != IGNORE_INDEX
        if runs and runs[-1][0] == trained:
            runs[-1][1].append(token)
        else:
            runs.append((trained, [token]))
    return [(trained, tokenizer.decode(ids, clean_up_tokenization_spaces=False)) for trained, ids in runs]


@pytest.fixture(params=["real", "tiny"])
def any_tokenizer(request):
    """The real Qwen2-VL tokenizer (when its files are present) and the tiny one."""
    return request.getfixturevalue(f"{request.param}_tokenizer")


def test_loss_covers_exactly_the_assistant_messages_from_recipient_through_marker(
    any_tokenizer, image_processor, screenshot, tmp_path
):
    sample = RecordTokenizer(any_tokenizer, image_processor)(stage2_record(screenshot(112, 56)), tmp_path)
    pads = "<|image_pad|>" * image_token_count(112, 56, image_processor)
    assert mask_runs(any_tokenizer, sample) == [
        (
            False,
            f"<|im_start|>system\n{GROUNDING_SYSTEM_PROMPT}<|im_end|>\n"
            f"<|im_start|>user\n<|vision_start|>{pads}<|vision_end|>\n{INSTRUCTION}<|im_end|>\n"
            "<|im_start|>assistant<|recipient|>",
        ),
        (True, f"all\n{MONOLOGUE}<|im_end|>"),
        (False, "\n<|im_start|>assistant<|recipient|>"),
        (True, f"os\n{ACTION}<|diff_marker|>"),
        (False, "\n"),
    ]


def test_trained_labels_are_the_input_ids_themselves(tiny_tokenizer, image_processor, screenshot, tmp_path):
    sample = RecordTokenizer(tiny_tokenizer, image_processor)(stage2_record(screenshot(112, 56)), tmp_path)
    trained = sample.labels != IGNORE_INDEX
    assert torch.equal(sample.labels[trained], sample.input_ids[trained])
    assert sample.input_ids.dtype == sample.labels.dtype == torch.long


def test_piecewise_ids_equal_tokenising_the_whole_rendered_text(any_tokenizer, image_processor, screenshot, tmp_path):
    record = stage2_record(screenshot(112, 56))
    sample = RecordTokenizer(any_tokenizer, image_processor)(record, tmp_path)
    text = render(record, image_pad_counts=[image_token_count(112, 56, image_processor)])
    assert sample.input_ids.tolist() == any_tokenizer.encode(text, add_special_tokens=False)


def test_real_tokenizer_ids_of_a_grounding_reply(real_tokenizer, image_processor, screenshot, tmp_path):
    sample = RecordTokenizer(real_tokenizer, image_processor)(grounding_record(screenshot(112, 56)), tmp_path)
    header = [151644, 77091, 151657]  # <|im_start|> assistant <|recipient|>
    # os \n py auto gui .click (x = 0 . 9 ,  y = 0 . 0 5 ) <|diff_marker|>
    reply = [436, 198, 3288, 2717, 90470, 14459, 2075, 28, 15, 13, 24, 11, 379, 28, 15, 13, 15, 20, 8, 151658]
    assert sample.input_ids[-24:].tolist() == [*header, *reply, 198]
    assert sample.labels[-24:].tolist() == [IGNORE_INDEX] * 3 + reply + [IGNORE_INDEX]


@pytest.mark.parametrize(("width", "height", "grid"), [(1920, 1080, (1, 50, 90)), (1080, 2400, (1, 102, 44))])
def test_image_pads_equal_the_processors_grid_at_1280x720_max_pixels(
    width, height, grid, tiny_tokenizer, image_processor, screenshot, tmp_path
):
    # 1920x1080 -> 1260x700 px -> 90x50 patches; 1080x2400 -> 616x1428 px -> 44x102 patches
    sample = RecordTokenizer(tiny_tokenizer, image_processor)(grounding_record(screenshot(width, height)), tmp_path)
    assert sample.image_grid_thw.tolist() == [list(grid)]
    assert sample.pixel_values.shape == (grid[0] * grid[1] * grid[2], 1176)
    image_pad = tiny_tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert (sample.input_ids == image_pad).sum().item() == grid[0] * grid[1] * grid[2] // 4


def test_image_token_count_matches_the_processor_for_odd_sizes(image_processor):
    from PIL import Image

    for width, height in [(1998, 1370), (3420, 2224), (375, 812), (57, 3000)]:
        grid = image_processor(images=[Image.new("RGB", (width, height))], return_tensors="pt")["image_grid_thw"]
        assert image_token_count(width, height, image_processor) == grid.prod().item() // 4


@pytest.mark.parametrize(("width", "height"), [(320, 420), (308, 420), (1998, 1370), (57, 90)])
def test_still_patch_levels_are_the_processors_patches_with_one_frame(width, height, image_processor):
    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(width).integers(0, 256, (height, width, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)  # random levels: any mix-up of rows, columns or channels shows
    out = image_processor(images=[image], return_tensors="np", do_rescale=False, do_normalize=False)
    levels, grid = still_patch_levels(image, image_processor)
    assert levels.dtype == np.uint8 and grid == tuple(out["image_grid_thw"][0].tolist())
    frames = image_processor.temporal_patch_size
    n = levels.shape[0]
    repeated = np.broadcast_to(levels.reshape(n, 3, 1, -1), (n, 3, frames, levels.shape[1] // 3)).reshape(n, -1)
    assert np.array_equal(repeated.astype(np.float32), out["pixel_values"])


def test_rgba_screenshot_gives_three_channel_patches(tiny_tokenizer, image_processor, screenshot, tmp_path):
    sample = RecordTokenizer(tiny_tokenizer, image_processor)(
        grounding_record(screenshot(112, 56, mode="RGBA")), tmp_path
    )
    assert sample.pixel_values.shape == (32, 1176)  # 3 channels x 2 frames x 14 x 14


def test_real_rgba_android_screenshot_tokenises(shared_data, tiny_tokenizer, image_processor, tmp_path):
    shutil.copy(shared_data / "aguvis" / "AndroidControl.png", tmp_path / "android.png")
    sample = RecordTokenizer(tiny_tokenizer, image_processor)(stage2_record("android.png"), tmp_path)
    assert sample.image_grid_thw.tolist() == [[1, 102, 44]]


def test_record_without_images_has_no_vision_inputs(tiny_tokenizer, image_processor):
    record = Record(images=[], conversations=[Turn(role="human", value="Hi"), Turn(role="gpt", value=ACTION)])
    sample = RecordTokenizer(tiny_tokenizer, image_processor)(record, None)
    assert sample.pixel_values is None and sample.image_grid_thw is None


def test_record_over_max_length_is_rejected_naming_the_record(tiny_tokenizer, image_processor, screenshot, tmp_path):
    tokens = RecordTokenizer(tiny_tokenizer, image_processor, max_length=50)
    message = r"^train\.jsonl: record 7: \d+ tokens, more than max_length 50"
    with pytest.raises(SequenceTooLongError, match=message) as err:
        tokens(grounding_record(screenshot(1920, 1080)), tmp_path, path="train.jsonl", index=7)
    assert err.value.length > 1125 and err.value.index == 7


def test_placeholder_and_image_counts_must_agree(tiny_tokenizer, image_processor, screenshot, tmp_path):
    record = grounding_record(screenshot(112, 56))
    record.images.append(screenshot(112, 56, name="second.png"))
    with pytest.raises(RecordError, match=r"record 3: image: 1 <image> placeholders in the conversation but 2 images"):
        RecordTokenizer(tiny_tokenizer, image_processor)(record, tmp_path, path="a.json", index=3)


def test_missing_image_file_is_reported_with_its_field(tiny_tokenizer, image_processor, tmp_path):
    with pytest.raises(RecordError, match=r"record 0: image\[0\]: cannot open image .*missing\.png"):
        RecordTokenizer(tiny_tokenizer, image_processor)(grounding_record("missing.png"), tmp_path, index=0)


def test_malformed_conversation_is_reported_as_a_record_error(tiny_tokenizer, image_processor, screenshot, tmp_path):
    record = grounding_record(screenshot(112, 56))
    record.conversations[1].recipient = "browser"
    with pytest.raises(RecordError, match=r"b\.jsonl: record 2: conversations\[1\]\.recipient"):
        RecordTokenizer(tiny_tokenizer, image_processor)(record, tmp_path, path="b.jsonl", index=2)


@pytest.mark.parametrize("mode", list(Mode))
def test_prompt_ends_with_the_generation_prefix_of_its_mode(mode, any_tokenizer, image_processor):
    from PIL import Image

    turns = [{"from": "human", "value": "<image>\n" + INSTRUCTION}]
    input_ids, pixel_values, grid = RecordTokenizer(any_tokenizer, image_processor).prompt(
        [Image.new("RGB", (112, 56))], turns, mode
    )
    system = GROUNDING_SYSTEM_PROMPT if mode is Mode.GROUNDING else agent_system_prompt()
    expected = render(turns, system_prompt=system, image_pad_counts=[8], mode=mode)
    assert expected.endswith(f"{INSTRUCTION}<|im_end|>\n{generation_prefix(mode)}")
    assert input_ids.tolist() == any_tokenizer.encode(expected, add_special_tokens=False)
    assert grid.tolist() == [[1, 4, 8]] and pixel_values.shape == (32, 1176)


def test_prompt_must_end_with_a_human_turn(tiny_tokenizer, image_processor):
    turns = [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": ACTION}]
    with pytest.raises(ConversationError, match="must end with a human turn"):
        RecordTokenizer(tiny_tokenizer, image_processor).prompt([], turns, Mode.GROUNDING)


def test_tokenizer_without_agent_tokens_is_refused(qwen2_vl_tokenizer_dir, image_processor):
    from transformers import Qwen2TokenizerFast

    base = Qwen2TokenizerFast.from_pretrained(qwen2_vl_tokenizer_dir)
    with pytest.raises(ValueError, match=r"<\|recipient\|>.*add_agent_special_tokens"):
        RecordTokenizer(base, image_processor)
