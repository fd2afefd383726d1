"""Batched generation: prompts left-padded into one batch with an attention mask and position ids
cumsum(mask) - 1, one prefill pass, then one token per step through a KV cache. Greedy at temperature 0, else
sampling at the temperature with nucleus top_p from a torch.Generator seeded with `seed`. A row ends after its
first EOS token (kept as its last element) or max_new_tokens; finished rows leave the built-in engine's batch."""
import torch

from .builtin import KVCache


def generate(lm, prompts, *, max_new_tokens, temperature, top_p, seed, eos_ids, batch_size=16):
    """For each prompt (a non-empty list of token ids), the new token ids (EOS included when it ended there)."""
    if any(len(p) == 0 for p in prompts):
        raise ValueError('generate: every prompt must have at least one token')
    if temperature < 0 or not 0 < top_p <= 1:
        raise ValueError(f'generate: temperature must be >= 0 and top_p in (0, 1] (got {temperature}, {top_p})')
    if batch_size < 1:
        raise ValueError(f'generate: batch_size must be positive (got {batch_size})')
    device = next(lm.module.parameters()).device
    gen = torch.Generator(device=device)
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(seed)
    out = []
    was_training = lm.module.training
    lm.module.eval()  # no dropout (LoRA's included) while generating
    try:
        with torch.inference_mode():
            for i in range(0, len(prompts), batch_size):
                chunk = prompts[i:i + batch_size]
                out.extend(_generate_batch(lm, chunk, max_new_tokens, temperature, top_p, gen, set(eos_ids), device))
    finally:
        lm.module.train(was_training)
    return out


def _generate_batch(lm, prompts, max_new_tokens, temperature, top_p, gen, eos, device):
    out = [[] for _ in prompts]
    if max_new_tokens <= 0:
        return out
    width = max(len(p) for p in prompts)
    ids = torch.zeros(len(prompts), width, dtype=torch.long)
    mask = torch.zeros(len(prompts), width, dtype=torch.long)
    for i, p in enumerate(prompts):  # left padding: every row's last prompt token is in the last column
        ids[i, width - len(p):] = torch.tensor(p, dtype=torch.long)
        mask[i, width - len(p):] = 1
    ids, mask = ids.to(device), mask.to(device)
    decoder = (_BuiltinDecoder if lm.engine == 'builtin' else _TransformersDecoder)(lm, len(prompts), width + max_new_tokens)
    logits = decoder.prefill(ids, mask)
    rows = list(range(len(prompts)))  # the prompt index of each row still generating
    for step in range(max_new_tokens):
        tokens = _pick(logits, temperature, top_p, gen)
        keep = []
        for j, (row, token) in enumerate(zip(rows, tokens.tolist())):
            out[row].append(token)
            if token not in eos:
                keep.append(j)
        if not keep or step == max_new_tokens - 1:
            break
        if len(keep) < len(rows):
            keep_t = torch.tensor(keep, device=device)
            decoder.select(keep_t)
            tokens = tokens.index_select(0, keep_t)
            rows = [rows[j] for j in keep]
        logits = decoder.step(tokens)
    return out


def _pick(logits, temperature, top_p, gen):
    """The next token of each row [b] from its logits [b, V]: argmax, or a nucleus sample."""
    if temperature == 0:
        return logits.argmax(-1)
    probs = (logits.float() / temperature).softmax(-1)
    if top_p < 1:
        sorted_p, order = probs.sort(-1, descending=True)
        # keep the smallest prefix whose mass reaches top_p: drop a token when the mass before it already does
        drop = (sorted_p.cumsum(-1) - sorted_p) >= top_p
        sorted_p = sorted_p.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
    return torch.multinomial(probs, 1, generator=gen).squeeze(-1)


class _BuiltinDecoder:
    """The built-in modules over a preallocated KVCache; `select` drops finished rows from it."""

    def __init__(self, lm, batch, max_len):
        m = lm.module
        p = next(m.parameters())
        self.m = m
        self.cache = KVCache(m.n_layer, batch, m.n_kv_heads, max_len, m.head_dim, p.dtype, p.device)
        self.next_pos = None  # [b] the position id of each row's next token

    def _run(self, ids, valid, positions):
        n, t = self.cache.length, ids.shape[1]
        self.cache.valid[:, n:n + t] = valid
        h = self.m(ids, positions, self.cache)
        self.cache.length += t
        return self.m.head(h[:, -1])

    def prefill(self, ids, mask):
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        self.next_pos = positions[:, -1] + 1
        return self._run(ids, mask.bool(), positions)

    def step(self, tokens):
        logits = self._run(tokens[:, None], True, self.next_pos[:, None])
        self.next_pos = self.next_pos + 1
        return logits

    def select(self, rows):
        self.cache.select(rows)
        self.next_pos = self.next_pos.index_select(0, rows)


class _TransformersDecoder:
    """transformers' model with its own past_key_values; finished rows stay in the batch (their outputs are
    ignored), since reordering its cache differs between transformers versions."""

    def __init__(self, lm, batch, max_len):
        self.m = lm.module
        self.rows = None  # indices into the full batch of the rows still wanted
        self.mask = self.past = self.next_pos = self.last = None

    def _run(self, ids, positions):
        out = self.m(input_ids=ids, attention_mask=self.mask, position_ids=positions, past_key_values=self.past, use_cache=True)
        self.past = out.past_key_values
        logits = out.logits[:, -1]
        return logits if self.rows is None else logits.index_select(0, self.rows)

    def prefill(self, ids, mask):
        self.mask = mask
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        self.next_pos = positions[:, -1] + 1
        self.last = ids[:, -1]
        return self._run(ids, positions)

    def step(self, tokens):
        if self.rows is not None:  # finished rows repeat their last token; their logits are dropped
            tokens = self.last.index_copy(0, self.rows, tokens)
        self.last = tokens
        self.mask = torch.cat([self.mask, torch.ones_like(self.mask[:, :1])], dim=1)
        logits = self._run(tokens[:, None], self.next_pos[:, None])
        self.next_pos = self.next_pos + 1
        return logits

    def select(self, rows):
        self.rows = rows if self.rows is None else self.rows.index_select(0, rows)
