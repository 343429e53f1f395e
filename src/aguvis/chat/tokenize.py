"""Records -> model inputs: token ids, loss labels and vision inputs.

The text comes from :func:`aguvis.chat.template.segments` and is tokenised
piece by piece, so the loss mask is exact by construction: a token is trained
on iff it comes from a loss piece (an assistant message from its recipient
name through its closing marker). Image pieces become
``<|vision_start|>`` + n x ``<|image_pad|>`` + ``<|vision_end|>`` directly as
ids, n being the image's grid size after the 2x2 merge.

Unlike upstream Aguvis, which re-runs the processor for every turn and then
un-masks every newline, ``<|im_start|>`` and ``<|im_end|>`` everywhere (user
turns included), nothing outside assistant messages is trained on here.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from aguvis.chat.prompts import GROUNDING_SYSTEM_PROMPT, agent_system_prompt
from aguvis.chat.template import (
    DIFF_MARKER,
    IM_END,
    IM_START,
    IMAGE_PAD,
    IMAGE_PLACEHOLDER,
    RECIPIENT,
    VISION_END,
    VISION_START,
    ConversationError,
    Mode,
    Segment,
    generation_prefix,
    messages,
    segments,
)
from aguvis.chat.vision import image_token_count, load_rgb_image
from aguvis.data import RecordError

IGNORE_INDEX = -100

__all__ = [
    "IGNORE_INDEX",
    "EncodedText",
    "RecordTokenizer",
    "SequenceTooLongError",
    "Tokenised",
    "image_token_count",
]


@dataclass
class Tokenised:
    """One training sample.

    ``labels`` equals ``input_ids`` on trained tokens and is -100 elsewhere
    (not shifted: the model shifts). ``pixel_values`` holds every image's
    flattened patches ([P, 3*2*14*14] = [P, 1176]) and ``image_grid_thw`` one
    (t, h, w) patch grid per image; both are ``None`` for a text-only record.
    """

    input_ids: torch.LongTensor
    labels: torch.LongTensor
    pixel_values: torch.FloatTensor | None
    image_grid_thw: torch.LongTensor | None


@dataclass(frozen=True)
class EncodedText:
    """A record's token ids and labels (as in :class:`Tokenised`) with its
    images still on disk: their paths and their ``<|image_pad|>`` counts."""

    input_ids: torch.LongTensor
    labels: torch.LongTensor
    image_paths: tuple[Path, ...]
    image_tokens: tuple[int, ...]


class SequenceTooLongError(RecordError):
    """A record whose tokens exceed ``max_length``. It is rejected rather than
    truncated: cutting it would cut an image's pad tokens or the answer."""

    def __init__(self, length: int, max_length: int, *, path: Any = None, index: int | None = None) -> None:
        self.length = length
        self.max_length = max_length
        super().__init__(f"{length} tokens, more than max_length {max_length}", path=path, index=index)


class RecordTokenizer:
    """Turns records into :class:`Tokenised` samples and conversations into
    inference prompts, with one tokenizer and one image processor.

    The tokenizer must know ``<|recipient|>`` and ``<|diff_marker|>`` as single
    tokens (see ``aguvis.model.tiny_tokenizer.add_agent_special_tokens``).
    ``system_prompt`` is used for records that have no system turn;
    upstream uses the grounding prompt for every stage.
    """

    def __init__(
        self,
        tokenizer: Any,
        image_processor: Any,
        max_length: int = 8192,
        system_prompt: str = GROUNDING_SYSTEM_PROMPT,
    ) -> None:
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.max_length = max_length
        self.system_prompt = system_prompt
        self.merge_size: int = image_processor.merge_size
        ids = {token: _single_token_id(tokenizer, token) for token in (VISION_START, IMAGE_PAD, VISION_END)}
        for token in (IM_START, IM_END, RECIPIENT, DIFF_MARKER):
            _single_token_id(tokenizer, token)
        self._vision_start, self._image_pad, self._vision_end = ids[VISION_START], ids[IMAGE_PAD], ids[VISION_END]

    def __call__(
        self,
        record: Any,
        images_root: str | os.PathLike[str] | None,
        *,
        path: str | os.PathLike[str] | None = None,
        index: int | None = None,
    ) -> Tokenised:
        """Tokenise a record (``aguvis.data.Record``); image paths are relative
        to ``images_root``. ``path``/``index`` say where the record came from,
        for error messages. Raises ``RecordError`` (``SequenceTooLongError``
        for records over ``max_length``) naming the record and field."""
        text = self.encode(record, images_root, path=path, index=index)
        pixel_values, grid = self.vision_inputs(text.image_paths, text.image_tokens)
        return Tokenised(
            input_ids=text.input_ids,
            labels=text.labels,
            pixel_values=pixel_values,
            image_grid_thw=grid,
        )

    def encode(
        self,
        record: Any,
        images_root: str | os.PathLike[str] | None,
        *,
        path: str | os.PathLike[str] | None = None,
        index: int | None = None,
    ) -> EncodedText:
        """The token ids and labels of a record, without decoding its images
        (their sizes come from the file headers): what a length or a cache of
        token ids needs. Raises as :meth:`__call__` does."""
        try:
            pieces = segments(record, system_prompt=self.system_prompt)
        except ConversationError as err:
            raise RecordError(err.reason, path=path, index=index, field=err.field) from err
        image_paths = [Path(images_root or "") / name for name in record.images]
        _check_image_count(pieces, len(image_paths), path=path, index=index)
        sizes = [_image_size(p, path=path, index=index, position=i) for i, p in enumerate(image_paths)]
        pad_counts = [image_token_count(w, h, self.image_processor) for w, h in sizes]
        input_ids, labels = self._encode(pieces, pad_counts)
        if len(input_ids) > self.max_length:
            raise SequenceTooLongError(len(input_ids), self.max_length, path=path, index=index)
        return EncodedText(
            input_ids=torch.tensor(input_ids, dtype=torch.long),
            labels=torch.tensor(labels, dtype=torch.long),
            image_paths=tuple(image_paths),
            image_tokens=tuple(pad_counts),
        )

    def vision_inputs(
        self,
        images: Sequence[str | os.PathLike[str] | Image.Image],
        image_tokens: Sequence[int],
    ) -> tuple[torch.FloatTensor | None, torch.LongTensor | None]:
        """Decode (paths) and process the images of one sample; ``image_tokens``
        are their expected token counts (from :meth:`encode`), checked."""
        rgb = [im.convert("RGB") if isinstance(im, Image.Image) else load_rgb_image(im) for im in images]
        return self._vision_inputs(rgb, image_tokens)

    def prompt(
        self,
        images: Sequence[Image.Image | str | os.PathLike[str]],
        conversations: Sequence[Any],
        mode: Mode | str,
    ) -> tuple[torch.LongTensor, torch.FloatTensor | None, torch.LongTensor | None]:
        """Inference input: ``(input_ids [L], pixel_values, image_grid_thw)``.

        ``conversations`` ends with a human turn; the text ends with
        :func:`generation_prefix` of ``mode``. Without a system turn, grounding
        gets the grounding prompt and the planning modes the agent prompt, as
        upstream's server does. ``input_ids`` is 1-D: add the batch dimension
        (``input_ids[None]``) for ``generate``.
        """
        mode = Mode(mode)
        system_prompt = GROUNDING_SYSTEM_PROMPT if mode is Mode.GROUNDING else agent_system_prompt()
        resolved = messages(conversations, system_prompt=system_prompt)
        if resolved[-1].role != "user":
            raise ConversationError(
                f"a prompt must end with a human turn, not {resolved[-1].role}",
                field=f"conversations[{len(conversations) - 1}]",
            )
        pieces = segments(conversations, system_prompt=system_prompt)
        _check_image_count(pieces, len(images), path=None, index=None)
        rgb = [load_rgb_image(im) if not isinstance(im, Image.Image) else im.convert("RGB") for im in images]
        pad_counts = [image_token_count(im.width, im.height, self.image_processor) for im in rgb]
        input_ids, _ = self._encode([*pieces, Segment(generation_prefix(mode))], pad_counts)
        if len(input_ids) > self.max_length:
            raise SequenceTooLongError(len(input_ids), self.max_length)
        pixel_values, grid = self._vision_inputs(rgb, pad_counts)
        return torch.tensor(input_ids, dtype=torch.long), pixel_values, grid

    def _encode(self, pieces: Sequence[Segment], pad_counts: Sequence[int]) -> tuple[list[int], list[int]]:
        """Ids and labels, piece by piece. For a grounding reply the assistant
        pieces give, with the real Qwen2-VL tokenizer::

            "<|im_start|>assistant<|recipient|>" -> [151644, 77091, 151657]  labels -100 x 3
            "os\\npyautogui.click(...)<|diff_marker|>" -> [436, 198, ..., 151658]  labels = ids
            "\\n" -> [198]  labels -100
        """
        # one tokenizer call for all of a record's text pieces: a call per piece spent most of its
        # time in the tokenizer's Python wrapper (28 pieces a MiniWoB++ record)
        texts = [piece.text for piece in pieces if piece.image is None]
        encoded = iter(self.tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else [])
        input_ids: list[int] = []
        labels: list[int] = []
        for piece in pieces:
            if piece.image is not None:
                ids = [self._vision_start, *[self._image_pad] * pad_counts[piece.image], self._vision_end]
            else:
                ids = next(encoded)
            input_ids += ids
            labels += ids if piece.loss else [IGNORE_INDEX] * len(ids)
        return input_ids, labels

    def _vision_inputs(
        self, images: list[Image.Image], pad_counts: Sequence[int]
    ) -> tuple[torch.FloatTensor | None, torch.LongTensor | None]:
        """All of a sample's images in one processor call."""
        if not images:
            return None, None
        out = self.image_processor(images=images, return_tensors="pt")
        grid = out["image_grid_thw"].long()
        processed = (grid.prod(dim=-1) // self.merge_size**2).tolist()
        if processed != list(pad_counts):
            raise RuntimeError(f"image processor produced {processed} image tokens, expected {list(pad_counts)}")
        return out["pixel_values"].float(), grid


def _single_token_id(tokenizer: Any, token: str) -> int:
    ids = tokenizer.encode(token, add_special_tokens=False)
    if len(ids) != 1:
        raise ValueError(
            f"the tokenizer does not know {token} as one token (it gives {ids}); "
            "call aguvis.model.tiny_tokenizer.add_agent_special_tokens(tokenizer) and resize the embeddings"
        )
    return ids[0]


def _check_image_count(pieces: Sequence[Segment], n_images: int, *, path: Any, index: int | None) -> None:
    n_placeholders = sum(1 for piece in pieces if piece.image is not None)
    if n_placeholders != n_images:
        raise RecordError(
            f"{n_placeholders} {IMAGE_PLACEHOLDER} placeholders in the conversation but {n_images} images",
            path=path,
            index=index,
            field="image",
        )


def _image_size(image_path: Path, *, path: Any, index: int | None, position: int) -> tuple[int, int]:
    """(width, height) from the file header, without decoding pixels."""
    try:
        with Image.open(image_path) as image:
            return image.size
    except (OSError, Image.UnidentifiedImageError) as err:
        message = f"cannot open image {image_path}: {err}"
        raise RecordError(message, path=path, index=index, field=f"image[{position}]") from err
