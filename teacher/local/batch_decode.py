"""Several completions decoded together: one forward pass per step serves every request in
flight. Decoding a small model on a CPU is bound by reading its weights, so two to four rows
cost about as much as one.

Prompts are left-padded to one width (the attention mask hides the padding, positions count
real tokens only); a row that ends (end token, ``max_tokens``, a stop string) leaves the batch
and its part of the KV cache is dropped. A prompt prefix that every row shares (one agent's
system part) is prefilled once (``_prefill``). A JSON reply (``json_prefix`` set) ends as soon
as its first object is complete. Greedy rows take the most likely token; sampled rows draw from
softmax(logits / temperature) with a generator of their own, seeded by the request's seed, so a
seeded request draws the same way whatever it shares the batch with.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass, field
from typing import Any

from teacher.local.engines import GenerationCancelled
from teacher.local.prefix_cache import PrefixCache
from teacher.local.structured import closes_json_object


@dataclass
class Row:
    """One request of a batch: prompt ids and sampling settings in, new token ids out."""

    ids: list[int]
    max_tokens: int
    temperature: float
    seed: int | None
    stop: list[str]
    json_prefix: str | None = None  # a JSON reply: the start put in the model's mouth
    new: list[int] = field(default_factory=list)


def _generator(row: Row) -> Any:
    import torch

    if row.temperature <= 0:
        return None
    generator = torch.Generator()
    if row.seed is not None:
        generator.manual_seed(row.seed % 2**63)
    else:
        generator.seed()
    return generator


def _pick(logits: Any, row: Row, generator: Any) -> int:
    """The next token of one row from its last logits (shape [1, vocab])."""
    import torch

    if generator is None:
        return int(torch.argmax(logits, dim=-1)[0])
    probs = torch.softmax(logits / row.temperature, dim=-1)
    return int(torch.multinomial(probs, num_samples=1, generator=generator)[0, 0])


def reply_ends(tokenizer: Any, new: list[int], stop: list[str], json_prefix: str | None) -> bool:
    """Whether the reply so far (``new`` token ids) ends here: a stop string in it, or, for a
    JSON reply, its first object complete (checked when the last token closes a bracket)."""
    if not new or (not stop and json_prefix is None):
        return False
    tail = tokenizer.decode(new, skip_special_tokens=True)
    if any(s in tail for s in stop if s):
        return True
    return (json_prefix is not None and "}" in tokenizer.decode(new[-1:])
            and closes_json_object(json_prefix + tail))


def _finished(row: Row, token: int, end_ids: set[int], tokenizer: Any) -> bool:
    if token in end_ids or len(row.new) >= row.max_tokens:
        return True
    return reply_ends(tokenizer, row.new, row.stop, row.json_prefix)


def shared_length(rows: list[Row]) -> int:
    """Prompt tokens every row starts with (at most all but each prompt's last token)."""
    first, shortest = rows[0].ids, min(len(row.ids) for row in rows)
    shared = 0
    while shared < shortest - 1 and all(row.ids[shared] == first[shared] for row in rows):
        shared += 1
    return shared


def _prefill(model: Any, rows: list[Row], *, pad_id: int, device: str, cache_kwarg: str,
             prefix_cache: PrefixCache | None) -> tuple[Any, Any]:
    """The first forward pass: every prompt, left-padded to one width; the output and the mask.

    Rows that share a prompt prefix of ``MIN_SHARED`` tokens or more (an agent's system part)
    prefill it once, its KV cache copied to each row (and taken from / kept in
    ``prefix_cache``, for the next batch of the same role); the padding then sits between the
    prefix and each row's own part.
    """
    import torch

    shared = shared_length(rows) if prefix_cache is not None else 0
    past = None
    if prefix_cache is not None and shared >= PrefixCache.MIN_SHARED:
        prefix = rows[0].ids[:shared]
        past = prefix_cache.lookup(prefix)  # covers all but the prefix's last tokens
        done = past.get_seq_length() if past is not None else 0
        step = torch.tensor([prefix[done:]], device=device)
        reuse = {cache_kwarg: past} if past is not None else {}
        out = model(input_ids=step, use_cache=True, **reuse)
        past = getattr(out, cache_kwarg)
        prefix_cache.store(prefix, copy.deepcopy(past))
        past.batch_repeat_interleave(len(rows))
    else:
        shared = 0
    width = max(len(row.ids) for row in rows) - shared
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), shared + width), dtype=torch.long)
    mask[:, :shared] = 1
    for index, row in enumerate(rows):
        own = row.ids[shared:]
        input_ids[index, width - len(own):] = torch.tensor(own)
        mask[index, shared + width - len(own):] = 1
    input_ids, mask = input_ids.to(device), mask.to(device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, shared:]
    out = model(input_ids=input_ids, attention_mask=mask, position_ids=positions, use_cache=True,
                **({cache_kwarg: past} if past is not None else {}))
    return out, mask


def decode_together(model: Any, tokenizer: Any, rows: list[Row], *, end_ids: list[int],
                    pad_id: int, device: str, cache_kwarg: str,
                    cancel: threading.Event, prefix_cache: PrefixCache | None = None) -> None:
    """Decode every row to its end, filling ``row.new`` (the end token, if any, included)."""
    import torch

    out, mask = _prefill(model, rows, pad_id=pad_id, device=device, cache_kwarg=cache_kwarg,
                         prefix_cache=prefix_cache)
    lengths = mask.sum(-1)  # real tokens so far: the position of the next one
    generators = [_generator(row) for row in rows]
    ends = set(end_ids)
    active = list(range(len(rows)))
    while True:
        cache = getattr(out, cache_kwarg)
        logits = out.logits[:, -1:, :].float()
        tokens = [_pick(logits[slot, :, :], rows[i], generators[i])
                  for slot, i in enumerate(active)]
        going = []
        for slot, i in enumerate(active):
            rows[i].new.append(tokens[slot])
            if not _finished(rows[i], tokens[slot], ends, tokenizer):
                going.append(slot)
        if cancel.is_set():
            raise GenerationCancelled("the local teacher is shutting down")
        if not going:
            return
        if len(going) < len(active):
            keep = torch.tensor(going, device=device)
            cache.batch_select_indices(keep)
            mask, lengths = mask[keep], lengths[keep]
            active = [active[slot] for slot in going]
            tokens = [tokens[slot] for slot in going]
        mask = torch.cat([mask, torch.ones((len(active), 1), dtype=mask.dtype, device=device)],
                         dim=-1)
        step = torch.tensor(tokens, device=device).unsqueeze(-1)
        out = model(input_ids=step, attention_mask=mask, position_ids=lengths.unsqueeze(-1),
                    use_cache=True, **{cache_kwarg: cache})
        lengths = lengths + 1
