"""Generate with a Qwen2-VL model in this process (HF ``generate``, batched).

Replies are written the way the Aguvis checkpoints were trained to write
them. Generation stops at ``<|diff_marker|>`` (the reply is over) or at
``<|im_end|>`` (one message is over). A planning reply first addresses an
inner monologue to ``all`` and closes it with ``<|im_end|>``; the reply is not
finished until an ``os`` message carries the action. So when the current
message went to ``all`` and ended with ``<|im_end|>``, the backend forces
``\\n<|im_start|>assistant<|recipient|>os\\n`` and lets the model go on, as
upstream's inference does by letting the model open the ``os`` message. The
forced tokens are written inside the same ``generate`` call (a logits
processor leaves only them possible), so the key/value cache of the prompt
and the monologue is kept: no second prefill, the screenshot encoded once.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import GenerationConfig, LogitsProcessor, LogitsProcessorList, StoppingCriteria, StoppingCriteriaList

from aguvis.agent.backend import GREEDY, Generation, Sampling
from aguvis.agent.prediction import MESSAGE_CLOSE, MESSAGE_OPEN, REPLY_CLOSE, split_reply
from aguvis.agent.prompt import ChatPrompt, build_prompt
from aguvis.agent.request import Request
from aguvis.chat.tokenize import RecordTokenizer
from aguvis.model.load import Loaded, load_model

OS_CONTINUATION = "\n" + MESSAGE_OPEN + "os\n"


@dataclass
class _Row:
    """One reply to generate: ``prompt_ids`` end with the generation prefix (and prefill)."""

    prompt_ids: list[int]
    pixel_values: torch.Tensor | None
    image_grid_thw: torch.Tensor | None
    head: str


class _ReplyRules:
    """Where each reply of a batch goes on after ``<|im_end|>`` and where it ends, decided as tokens come.

    At a row's first ``<|im_end|>``: if the message it closes went to ``all``
    and more than the continuation's length of the budget is left, the next
    tokens are forced to the continuation; otherwise the reply ends there.
    A reply also ends at ``<|diff_marker|>`` and at any later ``<|im_end|>``
    (continued at most once). Self-plan, for example::

        all\\nThought: go<|im_end|>                   first close, to all: continue
        \\n<|im_start|>assistant<|recipient|>os\\n    forced, a token a step
        pyautogui.click(x=0.5, y=0.2)<|diff_marker|>   the end
    """

    def __init__(self, backend: LocalBackend, rows: list[_Row], width: int, max_new_tokens: int) -> None:
        self.backend, self.rows, self.width, self.max_new_tokens = backend, rows, width, max_new_tokens
        self.continued_after: dict[int, int] = {}  # row -> index, among its new tokens, of the <|im_end|> continued
        self.judged: set[int] = set()  # rows whose first <|im_end|> has been looked at

    def new_tokens(self, input_ids: torch.Tensor, row: int) -> torch.Tensor:
        """A row's generated tokens (a view: most steps look at the last one only)."""
        return input_ids[row, self.width :]

    def judge(self, row: int, new: Sequence[int] | torch.Tensor) -> None:
        """Decide about a row's first ``<|im_end|>`` when it is the newest token."""
        if row in self.judged or len(new) == 0 or int(new[-1]) != self.backend.message_close_id:
            return
        self.judged.add(row)
        ids = new.tolist() if isinstance(new, torch.Tensor) else list(new)
        messages = split_reply(self.rows[row].head + self.backend._decode(ids))
        left = self.max_new_tokens - len(new)
        if messages and messages[-1].recipient == "all" and left > len(self.backend.continuation_ids):
            self.continued_after[row] = len(new) - 1

    def ends_at(self, row: int, new: Sequence[int] | torch.Tensor, index: int) -> bool:
        """Whether ``new[index]`` closes the reply (rows judged up to ``index``)."""
        token = int(new[index])
        if token == self.backend.reply_close_id:
            return True
        return token == self.backend.message_close_id and self.continued_after.get(row) != index

    def forced(self, row: int, new: Sequence[int] | torch.Tensor) -> int | None:
        """The continuation token due next, if any."""
        after = self.continued_after.get(row)
        if after is None:
            return None
        position = len(new) - after - 1
        continuation = self.backend.continuation_ids
        return continuation[position] if 0 <= position < len(continuation) else None


class _ForceContinuation(LogitsProcessor):
    """Leaves only the due continuation token possible (see :class:`_ReplyRules`)."""

    def __init__(self, rules: _ReplyRules) -> None:
        self.rules = rules

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        for row in range(input_ids.shape[0]):
            new = self.rules.new_tokens(input_ids, row)
            self.rules.judge(row, new)
            token = self.rules.forced(row, new)
            if token is not None:
                scores[row] = float("-inf")
                scores[row, token] = 0.0
        return scores


class _EndOfReply(StoppingCriteria):
    """Stops each row at the end of its reply (see :class:`_ReplyRules`)."""

    def __init__(self, rules: _ReplyRules) -> None:
        self.rules = rules

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs) -> torch.BoolTensor:
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        for row in range(input_ids.shape[0]):
            new = self.rules.new_tokens(input_ids, row)
            self.rules.judge(row, new)
            done[row] = len(new) > 0 and self.rules.ends_at(row, new, len(new) - 1)
        return done


class LocalBackend:
    """Greedy (or sampled) batched generation with left padding.

    ``loaded`` is a :class:`aguvis.model.load.Loaded` or a local model
    directory. Calls are serialised by a lock: the model keeps per-call state
    (M-RoPE deltas), so one generation runs at a time.
    """

    def __init__(
        self,
        loaded: Loaded | str | Path,
        *,
        device: str = "cpu",
        dtype: torch.dtype | None = None,
        max_pixels: int = 1280 * 720,
        batch_size: int = 8,
    ) -> None:
        if not isinstance(loaded, Loaded):
            loaded = load_model(loaded, dtype=dtype, device=device, max_pixels=max_pixels)
        self.model = loaded.model.eval()
        self.tokenizer = loaded.tokenizer
        self.tokens = RecordTokenizer(loaded.tokenizer, loaded.image_processor)
        self.batch_size = batch_size
        self.reply_close_id = self._token_id(REPLY_CLOSE)
        self.message_close_id = self._token_id(MESSAGE_CLOSE)
        self.pad_id = self.tokenizer.pad_token_id
        if self.pad_id is None:
            self.pad_id = self._token_id("<|endoftext|>")
        self.continuation_ids = self.tokenizer.encode(OS_CONTINUATION, add_special_tokens=False)
        self._lock = threading.Lock()

    def _token_id(self, token: str) -> int:
        token_id = self.tokenizer.convert_tokens_to_ids(token)
        if token_id is None or token_id == self.tokenizer.unk_token_id:
            raise ValueError(f"the tokenizer has no {token} token; load the model with aguvis.model.load")
        return int(token_id)

    def generate(self, requests: list[Request], max_new_tokens: int = 1024) -> list[str]:
        return [g.text for g in self.generate_prompts([build_prompt(r) for r in requests], max_new_tokens)]

    def generate_prompts(
        self, prompts: list[ChatPrompt], max_new_tokens: int = 1024, sampling: Sampling = GREEDY
    ) -> list[Generation]:
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
        rows = [self._row(prompt) for prompt in prompts]
        generations: list[Generation] = []
        with self._lock, torch.inference_mode():
            for start in range(0, len(rows), self.batch_size):
                generations += self._generate_batch(rows[start : start + self.batch_size], max_new_tokens, sampling)
        return generations

    def _row(self, prompt: ChatPrompt) -> _Row:
        input_ids, pixel_values, image_grid_thw = self.tokens.prompt(prompt.images, prompt.turns, prompt.mode)
        ids = input_ids.tolist()
        if prompt.prefill:
            ids += self.tokenizer.encode(prompt.prefill, add_special_tokens=False)
        return _Row(ids, pixel_values, image_grid_thw, prompt.reply_head)

    def _generate_batch(self, rows: list[_Row], max_new_tokens: int, sampling: Sampling) -> list[Generation]:
        """Each row's reply, in one ``generate`` call."""
        inputs, width = self._batch_inputs(rows)
        rules = _ReplyRules(self, rows, width, max_new_tokens)
        output = self.model.generate(
            **inputs,
            generation_config=self._generation_config(max_new_tokens, sampling),
            logits_processor=LogitsProcessorList([_ForceContinuation(rules)]),
            stopping_criteria=StoppingCriteriaList([_EndOfReply(rules)]),
        )
        return [self._generation(rules, i, output[i, width:].tolist()) for i in range(len(rows))]

    def _batch_inputs(self, rows: list[_Row]) -> tuple[dict, int]:
        """``generate``'s inputs for ``rows`` and their width.

        Rows are left-padded to a common length so every row's last prompt
        token sits in the last column, e.g. lengths 3 and 5 with pad ``P``::

            P P a b c
            d e f g h      attention_mask  0 0 1 1 1 / 1 1 1 1 1
        """
        device = self.model.device
        width = max(len(row.prompt_ids) for row in rows)
        input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            input_ids[i, width - len(row.prompt_ids) :] = torch.tensor(row.prompt_ids, dtype=torch.long)
            attention_mask[i, width - len(row.prompt_ids) :] = 1
        inputs = {"input_ids": input_ids.to(device), "attention_mask": attention_mask.to(device)}
        inputs.update(self._vision_inputs(rows, input_ids, device))
        return inputs, width

    def _vision_inputs(self, rows: list[_Row], input_ids: torch.Tensor, device: torch.device) -> dict:
        pixel_values = [row.pixel_values for row in rows if row.pixel_values is not None]
        if not pixel_values:
            return {}
        grids = [row.image_grid_thw for row in rows if row.image_grid_thw is not None]
        # M-RoPE needs to know which positions are image tokens (1) and which text (0).
        image_token_id = self.model.config.image_token_id
        return {
            "pixel_values": torch.cat(pixel_values).to(device=device, dtype=self.model.dtype),
            "image_grid_thw": torch.cat(grids).to(device),
            "mm_token_type_ids": (input_ids == image_token_id).to(device=device, dtype=torch.int),
        }

    def _generation_config(self, max_new_tokens: int, sampling: Sampling) -> GenerationConfig:
        settings = dict(
            max_new_tokens=max_new_tokens,
            eos_token_id=self.reply_close_id,  # <|im_end|> ends a reply or not: _EndOfReply decides
            pad_token_id=self.pad_id,
            use_cache=True,
        )
        if sampling.greedy:
            return GenerationConfig(do_sample=False, **settings)
        return GenerationConfig(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p, **settings)

    def _decode(self, tokens: list[int]) -> str:
        return self.tokenizer.decode(tokens, skip_special_tokens=False, clean_up_tokenization_spaces=False)

    def _generation(self, rules: _ReplyRules, row: int, new: list[int]) -> Generation:
        """The reply up to its end (what ``generate`` padded finished rows with dropped)."""
        new = new[: rules.max_new_tokens]
        for index, token in enumerate(new):
            if token == self.message_close_id:
                rules.judge(row, new[: index + 1])
            if rules.ends_at(row, new, index):
                tokens = new[:index]  # the closing marker is not part of the text
                return self._generation_of(rules.rows[row], tokens, completion=index + 1, finish_reason="stop")
        return self._generation_of(rules.rows[row], new, completion=len(new), finish_reason="length")

    def _generation_of(self, row: _Row, tokens: list[int], *, completion: int, finish_reason: str) -> Generation:
        return Generation(
            text=self._decode(tokens),
            prompt_tokens=len(row.prompt_ids),
            completion_tokens=completion,
            finish_reason=finish_reason,
        )
