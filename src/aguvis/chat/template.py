"""Qwen2-VL ChatML with Aguvis recipients: conversation -> exact model text.

Upstream Aguvis (``xlang-ai/aguvis``) renders a record message by message:
system and user messages with Qwen2-VL's chat template, assistant messages
with its ``assistant_template``. For a stage-2 step that gives::

    <|im_start|>system\\n{system prompt}<|im_end|>\\n
    <|im_start|>user\\n<|vision_start|><|image_pad|><|vision_end|>\\nPlease generate ...<|im_end|>\\n
    <|im_start|>assistant<|recipient|>all\\nThought: ...<|im_end|>\\n
    <|im_start|>assistant<|recipient|>os\\npyautogui.click(x=0.4312, y=0.129)<|diff_marker|>\\n

Upstream's rules, kept here because released checkpoints were trained on them:

- a record without a leading system turn gets :data:`GROUNDING_SYSTEM_PROMPT`
  (whatever the stage);
- ``<image>`` placeholders are removed from a user turn's text and that many
  images are put *in front of* the text (the Aguvis Collection writes
  ``<image>`` first anyway, so this is the same as replacing in place there);
- an assistant turn without ``recipient`` goes to ``os``; without ``end_turn``
  it ends the reply (``<|diff_marker|>``).

The text is produced as :class:`Segment` pieces that know whether they are in
the loss, so :mod:`aguvis.chat.tokenize` can tokenise piece by piece and get an
exact mask. Every piece boundary sits next to a special token, which the
tokenizer never merges across, so the pieces tokenise to the same ids as the
whole text.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from aguvis.chat.prompts import GROUNDING_SYSTEM_PROMPT

IMAGE_PLACEHOLDER = "<image>"

ENDOFTEXT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
VISION_START = "<|vision_start|>"
VISION_END = "<|vision_end|>"
VISION_PAD = "<|vision_pad|>"
IMAGE_PAD = "<|image_pad|>"
VIDEO_PAD = "<|video_pad|>"
RECIPIENT = "<|recipient|>"
DIFF_MARKER = "<|diff_marker|>"

RECIPIENTS = ("all", "os")

# Markup a turn's text must not contain: the tokenizer would read it as the
# real token and silently break the turn structure or the image-token count.
_RESERVED = (
    ENDOFTEXT, IM_START, IM_END, VISION_START, VISION_END, VISION_PAD, IMAGE_PAD, VIDEO_PAD, RECIPIENT, DIFF_MARKER
)

_ROLES = {"system": "system", "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant"}


class Mode(str, enum.Enum):
    """How the assistant reply is started at inference.

    ``grounding`` prefills ``os`` (answer with an action at once), ``self-plan``
    lets the model pick ``all`` (think first) or ``os``, ``enforced-plan``
    prefills ``all`` and ``Thought:`` so the model must reason first.
    """

    GROUNDING = "grounding"
    SELF_PLAN = "self-plan"
    ENFORCED_PLAN = "enforced-plan"


_GENERATION_PREFIX = {
    Mode.GROUNDING: f"{IM_START}assistant{RECIPIENT}os\n",
    Mode.SELF_PLAN: f"{IM_START}assistant{RECIPIENT}",
    # Upstream's server writes "Thought: " with a trailing space; without it the
    # model writes " ..." itself, tokenised as in training ("Thought", ":", " I").
    Mode.ENFORCED_PLAN: f"{IM_START}assistant{RECIPIENT}all\nThought:",
}


def generation_prefix(mode: Mode | str) -> str:
    """Text appended after the last user turn to start the reply in ``mode``.

    >>> generation_prefix("self-plan")
    '<|im_start|>assistant<|recipient|>'
    """
    return _GENERATION_PREFIX[Mode(mode)]


class ConversationError(ValueError):
    """A conversation that cannot be rendered; ``field`` names the turn, e.g.
    ``conversations[2].recipient``."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        self.reason = message
        super().__init__(f"{field}: {message}" if field else message)


@dataclass(frozen=True)
class Message:
    """One ChatML message. ``images`` counts the images shown before ``text``
    (user messages only); ``recipient``/``end_turn`` are resolved for
    assistant messages and ``None`` otherwise."""

    role: Literal["system", "user", "assistant"]
    text: str
    images: int = 0
    recipient: str | None = None
    end_turn: bool | None = None


@dataclass(frozen=True)
class Segment:
    """A piece of the rendered text.

    ``loss`` pieces are trained on. An image piece has ``image`` set to the
    image's index in the record (0-based, in order of appearance) and the text
    ``<|vision_start|><|image_pad|><|vision_end|>`` with one pad; tokenisation
    widens it to the image's real number of pad tokens.
    """

    text: str
    loss: bool = False
    image: int | None = None


def messages(conversation: Any, *, system_prompt: str = GROUNDING_SYSTEM_PROMPT) -> list[Message]:
    """Resolve a conversation into ChatML messages, with upstream's defaults.

    ``conversation`` is a record (``aguvis.data.Record`` or its JSON dict), a list of
    turns (objects with ``role``/``value``/``recipient``/``end_turn`` such as
    ``aguvis.data.Turn``) or a list of dicts in file form (``from``/``value``)
    or chat form (``role``/``content``). A conversation that does not start
    with a system turn gets ``system_prompt``.
    """
    turns = getattr(conversation, "conversations", conversation)
    if isinstance(turns, Mapping) and "conversations" in turns:  # a record still in JSON form
        turns = turns["conversations"]
    if isinstance(turns, (str, bytes)) or not isinstance(turns, Sequence):
        raise ConversationError(f"expected a list of turns, got {type(turns).__name__}", field="conversations")
    if not turns:
        raise ConversationError("a conversation needs at least one turn", field="conversations")
    out = [_message(turn, f"conversations[{i}]", first=i == 0) for i, turn in enumerate(turns)]
    if out[0].role != "system":
        out.insert(0, Message(role="system", text=system_prompt))
    return out


def strip_reserved_tokens(text: str) -> str:
    """``text`` without the chat template's reserved tokens, which a message may not contain
    (e.g. a model's own reply, cut short mid-turn, fed back as history).

    >>> strip_reserved_tokens("Click OK<|im_end|>\n<|im_start|>assistant")
    'Click OK\nassistant'
    """
    for token in _RESERVED:
        text = text.replace(token, "")
    return text


def _message(turn: Any, where: str, *, first: bool) -> Message:
    fields = _turn_fields(turn, where)
    role = _ROLES.get(fields["role"]) if isinstance(fields["role"], str) else None
    if role is None:
        raise ConversationError(f"expected one of {sorted(_ROLES)}, got {fields['role']!r}", field=f"{where}.from")
    text = fields["value"]
    if not isinstance(text, str):
        raise ConversationError(f"expected a string, got {type(text).__name__}", field=f"{where}.value")
    for token in _RESERVED:
        if token in text:
            raise ConversationError(f"text contains the reserved token {token}", field=f"{where}.value")
    if role == "system" and not first:
        raise ConversationError("a system turn may only come first", field=f"{where}.from")
    images = text.count(IMAGE_PLACEHOLDER)
    if images and role != "user":
        raise ConversationError(f"{IMAGE_PLACEHOLDER} is only allowed in human turns", field=f"{where}.value")
    if role != "assistant":
        return Message(role=role, text=text.replace(IMAGE_PLACEHOLDER, ""), images=images)
    recipient = "os" if fields["recipient"] is None else fields["recipient"]
    if recipient not in RECIPIENTS:
        raise ConversationError(f"expected one of {list(RECIPIENTS)}, got {recipient!r}", field=f"{where}.recipient")
    end_turn = True if fields["end_turn"] is None else fields["end_turn"]
    if not isinstance(end_turn, bool):
        raise ConversationError(f"expected true or false, got {end_turn!r}", field=f"{where}.end_turn")
    return Message(role="assistant", text=text, recipient=recipient, end_turn=end_turn)


def _turn_fields(turn: Any, where: str) -> dict[str, Any]:
    if isinstance(turn, Mapping):
        return {
            "role": turn.get("from", turn.get("role")),
            "value": turn.get("value", turn.get("content")),
            "recipient": turn.get("recipient"),
            "end_turn": turn.get("end_turn"),
        }
    if hasattr(turn, "role") and hasattr(turn, "value"):
        return {
            "role": turn.role,
            "value": turn.value,
            "recipient": getattr(turn, "recipient", None),
            "end_turn": getattr(turn, "end_turn", None),
        }
    raise ConversationError(f"expected a turn, got {type(turn).__name__}", field=where)


def segments(conversation: Any, *, system_prompt: str = GROUNDING_SYSTEM_PROMPT) -> list[Segment]:
    """The rendered conversation as loss-tagged pieces.

    An assistant message is three pieces; only the middle one, from the
    recipient name through the closing marker, is in the loss::

        "<|im_start|>assistant<|recipient|>"      loss=False  (fixed header)
        "all\\nThought: ...<|im_end|>"             loss=True
        "\\n"                                      loss=False

    The header is not trained because the runtime writes it (a generation
    prefix, or after ``<|im_end|>`` the agent appends it to continue the
    reply); the newline after the marker is not trained because generation
    stops at the marker. User messages with two images give::

        "<|im_start|>user\\n", <image 0>, <image 1>, "{text}<|im_end|>\\n"
    """
    out: list[Segment] = []
    image_index = 0
    for message in messages(conversation, system_prompt=system_prompt):
        if message.role == "assistant":
            closer = DIFF_MARKER if message.end_turn else IM_END
            out.append(Segment(f"{IM_START}assistant{RECIPIENT}"))
            out.append(Segment(f"{message.recipient}\n{message.text}{closer}", loss=True))
            out.append(Segment("\n"))
            continue
        out.append(Segment(f"{IM_START}{message.role}\n"))
        for _ in range(message.images):
            out.append(Segment(f"{VISION_START}{IMAGE_PAD}{VISION_END}", image=image_index))
            image_index += 1
        out.append(Segment(f"{message.text}{IM_END}\n"))
    return out


def render(
    conversation: Any,
    *,
    system_prompt: str = GROUNDING_SYSTEM_PROMPT,
    image_pad_counts: Sequence[int] | None = None,
    mode: Mode | str | None = None,
) -> str:
    """The exact model text of a conversation.

    Each image is ``<|vision_start|><|image_pad|><|vision_end|>`` with one pad,
    as a chat template writes it, or with ``image_pad_counts[i]`` pads for
    image ``i`` (the form the model really reads). With ``mode`` the text ends
    with :func:`generation_prefix` (for a conversation ending in a user turn).
    """
    pieces = segments(conversation, system_prompt=system_prompt)
    n_images = sum(1 for piece in pieces if piece.image is not None)
    if image_pad_counts is not None and len(image_pad_counts) != n_images:
        raise ConversationError(
            f"{len(image_pad_counts)} image pad counts for {n_images} {IMAGE_PLACEHOLDER} placeholders",
            field="conversations",
        )
    text = "".join(
        f"{VISION_START}{IMAGE_PAD * image_pad_counts[piece.image]}{VISION_END}"
        if piece.image is not None and image_pad_counts is not None
        else piece.text
        for piece in pieces
    )
    return text if mode is None else text + generation_prefix(mode)
