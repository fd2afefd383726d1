"""The worker's own GPT-2 and Llama-family (Llama, Qwen2, Mistral) modules, used where transformers is not installed
(models.py loads them). They follow transformers' arithmetic: GPT-2 (LayerNorm, Conv1D [in, out] projections, tanh
GELU, learned positions) and Llama (RMSNorm computed in float32, rotary embeddings with HF's rotate_half convention and
rope_scaling 'linear' / 'llama3', SwiGLU, grouped-query attention, optional biases); their parameters carry the Hugging
Face names of model.safetensors. Both take per-row position ids, a key-validity mask (left padding) and an optional KV
cache (generate.py). One block of each family, written for clarity; tests/test_models.py checks them against the
independent fixtures in ../shared/fixtures.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

# ---- config validation -------------------------------------------------------------------------------------

class _Config:
    """Typed reads of config.json whose errors name the file and the key."""

    def __init__(self, c, file):
        self.c, self.file = c, file

    def error(self, key, what):
        return ValueError(f'{self.file}: {key} {what}')

    def pos_int(self, key, default=None):
        v = self.c.get(key)
        v = default if v is None else v
        if v is None:
            raise self.error(key, 'is required and missing')
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise self.error(key, f'must be a positive integer, got {v!r}')
        return v

    def positive(self, key, default):
        v = self.c.get(key)
        v = default if v is None else v
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
            raise self.error(key, f'must be a positive number, got {v!r}')
        return float(v)

    def flag(self, key, default):
        v = self.c.get(key)
        v = default if v is None else v
        if not isinstance(v, bool):
            raise self.error(key, f'must be true or false, got {v!r}')
        return v


def build_builtin(config, file='config.json'):
    """The built-in module of a config.json dict (weights uninitialised); ValueError names file and key."""
    kind = config.get('model_type')
    if kind == 'gpt2':
        return GPT2LM(config, file)
    if kind in ('llama', 'qwen2', 'mistral'):
        return LlamaLM(config, file)
    raise ValueError(f'{file}: model_type {kind!r} is not supported by the built-in engine (supported: gpt2, llama, qwen2, mistral)')


# ---- shared pieces -----------------------------------------------------------------------------------------

class Conv1D(nn.Module):
    """GPT-2's projection (transformers' Conv1D): y = x W + b with W stored [in, out]."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_in, n_out))
        self.bias = nn.Parameter(torch.empty(n_out))

    def forward(self, x):
        return torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight).view(*x.shape[:-1], -1)


class RMSNorm(nn.Module):
    """Llama's RMSNorm: normalised in float32, cast back, then scaled (transformers' order)."""

    def __init__(self, n, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n))
        self.eps = eps

    def forward(self, x):
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(x.dtype)


class KVCache:
    """Preallocated keys and values per layer, [B, H_kv, P_max, D], written in place as tokens arrive.

    `valid` [B, P_max] marks keys that are real tokens (False on left padding); `length` is how many positions
    are filled. `select(rows)` keeps some rows (finished rows stop costing work)."""

    def __init__(self, n_layers, batch, kv_heads, max_len, head_dim, dtype, device):
        shape = (batch, kv_heads, max_len, head_dim)
        self.k = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(n_layers)]
        self.v = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(n_layers)]
        self.valid = torch.zeros(batch, max_len, dtype=torch.bool, device=device)
        self.length = 0

    def write(self, layer, k, v):
        """Stores the new keys/values [B, H_kv, t, D] after the filled ones; returns all filled so far."""
        n, t = self.length, k.shape[2]
        self.k[layer][:, :, n:n + t] = k
        self.v[layer][:, :, n:n + t] = v
        return self.k[layer][:, :, :n + t], self.v[layer][:, :, :n + t]

    def select(self, rows):
        self.k = [x.index_select(0, rows) for x in self.k]
        self.v = [x.index_select(0, rows) for x in self.v]
        self.valid = self.valid.index_select(0, rows)


def _allowed(t, start, valid, device):
    """[B or 1, 1, t, start + t] bool: query i (at start + i) sees key j when j <= start + i and key j is valid.
    A query always sees itself, so a padding query never has every key masked (no NaN from an empty softmax)."""
    q = torch.arange(start, start + t, device=device)[:, None]
    k = torch.arange(start + t, device=device)[None, :]
    causal = k <= q
    if valid is None:
        return causal[None, None]
    return (causal & (valid[:, None, :start + t] | (k == q)))[:, None]


def attention(q, k, v, allowed, causal_only):
    """softmax(q k^T / sqrt(D) masked) v with q [B, H, t, D], k and v [B, H_kv, S, D] (GQA: shared kv heads)."""
    if k.shape[1] != q.shape[1]:
        rep = q.shape[1] // k.shape[1]
        k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
    if hasattr(F, 'scaled_dot_product_attention'):  # torch >= 2.0: fused kernels
        if causal_only:
            return F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    scores = scores.float().masked_fill(~allowed, float('-inf'))  # softmax in float32, as transformers does
    return scores.softmax(-1).to(q.dtype) @ v


class _Context:
    """What every layer of one forward shares: the attention mask, the cache, rotary cos/sin."""

    def __init__(self, t, positions, cache, device):
        start = cache.length if cache is not None else 0
        self.cache = cache
        self.positions = positions  # [B, t]
        self.causal_only = cache is None  # no padding, keys == queries: plain causal attention
        self.allowed = _allowed(t, start, cache.valid if cache is not None else None, device)
        self.rope = None


def _positions(ids, positions):
    if positions is None:
        return torch.arange(ids.shape[1], device=ids.device)[None].expand(ids.shape[0], -1)
    return positions


# ---- GPT-2 -------------------------------------------------------------------------------------------------

def _gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


# activation_function values (transformers' ACT2FN names); the three tanh approximations are one function.
_GPT2_ACTIVATIONS = {'gelu_new': _gelu_tanh, 'gelu_pytorch_tanh': _gelu_tanh, 'gelu_fast': _gelu_tanh, 'gelu': F.gelu, 'relu': F.relu}


class GPT2Attention(nn.Module):
    def __init__(self, c, h):
        super().__init__()
        self.n_head = h
        self.c_attn = Conv1D(c, 3 * c)
        self.c_proj = Conv1D(c, c)

    def forward(self, x, ctx, layer):
        b, t, c = x.shape
        q, k, v = (z.view(b, t, self.n_head, c // self.n_head).transpose(1, 2) for z in self.c_attn(x).split(c, dim=2))
        if ctx.cache is not None:
            k, v = ctx.cache.write(layer, k, v)
        y = attention(q, k, v, ctx.allowed, ctx.causal_only)
        return self.c_proj(y.transpose(1, 2).reshape(b, t, c))


class GPT2MLP(nn.Module):
    def __init__(self, c, inner, act):
        super().__init__()
        self.c_fc = Conv1D(c, inner)
        self.c_proj = Conv1D(inner, c)
        self.act = act

    def forward(self, x):
        return self.c_proj(self.act(self.c_fc(x)))


class GPT2Block(nn.Module):
    def __init__(self, c, h, inner, eps, act):
        super().__init__()
        self.ln_1 = nn.LayerNorm(c, eps=eps)
        self.attn = GPT2Attention(c, h)
        self.ln_2 = nn.LayerNorm(c, eps=eps)
        self.mlp = GPT2MLP(c, inner, act)

    def forward(self, x, ctx, layer):
        x = x + self.attn(self.ln_1(x), ctx, layer)
        return x + self.mlp(self.ln_2(x))


class GPT2LM(nn.Module):
    """GPT2LMHeadModel's arithmetic; parameters named as its model.safetensors (`transformer.h.0.attn.c_attn.weight`)."""

    def __init__(self, config, file='config.json'):
        super().__init__()
        r = _Config(config, file)
        act = config.get('activation_function', 'gelu_new')
        if act not in _GPT2_ACTIVATIONS:
            raise r.error('activation_function', f'{act!r} is not supported (supported: {", ".join(_GPT2_ACTIVATIONS)})')
        for key, supported in (('scale_attn_weights', True), ('scale_attn_by_inverse_layer_idx', False), ('add_cross_attention', False)):
            if r.flag(key, supported) != supported:
                raise r.error(key, f'{config[key]!r} is not supported (supported: {str(supported).lower()})')
        c, h = r.pos_int('n_embd'), r.pos_int('n_head')
        if c % h:
            raise r.error('n_embd', f'{c} is not divisible by n_head {h}')
        self.n_positions = r.pos_int('n_positions', config.get('n_ctx'))
        self.n_layer, self.n_head, self.head_dim = r.pos_int('n_layer'), h, c // h
        inner = r.pos_int('n_inner', 4 * c)
        eps = r.positive('layer_norm_epsilon', 1e-5)
        vocab = r.pos_int('vocab_size')
        self.transformer = nn.Module()
        self.transformer.wte = nn.Embedding(vocab, c)
        self.transformer.wpe = nn.Embedding(self.n_positions, c)
        self.transformer.h = nn.ModuleList(GPT2Block(c, h, inner, eps, _GPT2_ACTIVATIONS[act]) for _ in range(self.n_layer))
        self.transformer.ln_f = nn.LayerNorm(c, eps=eps)
        self.tied = r.flag('tie_word_embeddings', True)
        if not self.tied:
            self.lm_head = nn.Linear(c, vocab, bias=False)
        self.n_kv_heads = h

    def forward(self, ids, positions=None, cache=None):
        """Hidden states after ln_f [B, t, C] of ids [B, t] at positions [B, t] (default 0..t-1)."""
        positions = _positions(ids, positions)
        end = (cache.length if cache is not None else 0) + ids.shape[1]
        if end > self.n_positions:
            raise ValueError(f'GPT-2: {end} positions exceed n_positions {self.n_positions} (config.json)')
        ctx = _Context(ids.shape[1], positions, cache, ids.device)
        x = self.transformer.wte(ids) + self.transformer.wpe(positions)
        for i, block in enumerate(self.transformer.h):
            x = block(x, ctx, i)
        return self.transformer.ln_f(x)

    def head(self, hidden):
        w = self.transformer.wte.weight if self.tied else self.lm_head.weight
        return hidden @ w.t()


# ---- Llama family ------------------------------------------------------------------------------------------

def rope_inv_freq(r, head_dim):
    """Rotary inverse frequencies [D / 2] in float32 as transformers computes them, then rope_scaling's rule."""
    params = r.c.get('rope_parameters') if isinstance(r.c.get('rope_parameters'), dict) else None  # transformers 5
    theta_key = 'rope_theta'
    theta = r.positive('rope_theta', 10000.0)
    if params is not None and 'rope_theta' in params:
        theta_key, theta = 'rope_parameters.rope_theta', params['rope_theta']
        if isinstance(theta, bool) or not isinstance(theta, (int, float)) or not theta > 0:
            raise r.error(theta_key, f'must be a positive number, got {theta!r}')
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
    key = 'rope_parameters' if params is not None else 'rope_scaling'
    s = params if params is not None else r.c.get('rope_scaling')
    if s is None:
        return inv
    if not isinstance(s, dict):
        raise r.error(key, f'must be an object or null, got {s!r}')
    kind = s.get('rope_type', s.get('type', 'default'))

    def num(name):
        v = s.get(name)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
            raise r.error(f'{key}.{name}', f'must be a positive number for {kind!r}, got {v!r}')
        return float(v)

    if kind == 'default':
        return inv
    if kind == 'linear':
        return inv / num('factor')
    if kind == 'llama3':
        factor, lo, hi, old = num('factor'), num('low_freq_factor'), num('high_freq_factor'), num('original_max_position_embeddings')
        if not hi > lo:
            raise r.error(f'{key}.high_freq_factor', 'must exceed low_freq_factor')
        wavelen = 2 * math.pi / inv
        scaled = torch.where(wavelen > old / lo, inv / factor, inv)
        smooth = (old / wavelen - lo) / (hi - lo)
        mid = (1 - smooth) * scaled / factor + smooth * scaled
        medium = (wavelen >= old / hi) & (wavelen <= old / lo)
        return torch.where(medium, mid, scaled)
    raise r.error(f'{key}.rope_type', f'{kind!r} is not supported (supported: "default", "linear", "llama3")')


def _rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


class LlamaAttention(nn.Module):
    def __init__(self, c, h, kv, d, qkv_bias, o_bias):
        super().__init__()
        self.n_head, self.n_kv, self.d = h, kv, d
        self.q_proj = nn.Linear(c, h * d, bias=qkv_bias)
        self.k_proj = nn.Linear(c, kv * d, bias=qkv_bias)
        self.v_proj = nn.Linear(c, kv * d, bias=qkv_bias)
        self.o_proj = nn.Linear(h * d, c, bias=o_bias)

    def forward(self, x, ctx, layer):
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.n_head, self.d).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.n_kv, self.d).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.n_kv, self.d).transpose(1, 2)
        cos, sin = ctx.rope  # [B, 1, t, D]
        q, k = q * cos + _rotate_half(q) * sin, k * cos + _rotate_half(k) * sin
        if ctx.cache is not None:
            k, v = ctx.cache.write(layer, k, v)
        y = attention(q, k, v, ctx.allowed, ctx.causal_only)
        return self.o_proj(y.transpose(1, 2).reshape(b, t, self.n_head * self.d))


class LlamaMLP(nn.Module):
    def __init__(self, c, inner, bias):
        super().__init__()
        self.gate_proj = nn.Linear(c, inner, bias=bias)
        self.up_proj = nn.Linear(c, inner, bias=bias)
        self.down_proj = nn.Linear(inner, c, bias=bias)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class LlamaBlock(nn.Module):
    def __init__(self, c, h, kv, d, inner, eps, qkv_bias, o_bias, mlp_bias):
        super().__init__()
        self.input_layernorm = RMSNorm(c, eps)
        self.self_attn = LlamaAttention(c, h, kv, d, qkv_bias, o_bias)
        self.post_attention_layernorm = RMSNorm(c, eps)
        self.mlp = LlamaMLP(c, inner, mlp_bias)

    def forward(self, x, ctx, layer):
        x = x + self.self_attn(self.input_layernorm(x), ctx, layer)
        return x + self.mlp(self.post_attention_layernorm(x))


class LlamaLM(nn.Module):
    """LlamaForCausalLM / Qwen2ForCausalLM / MistralForCausalLM; parameters named as their model.safetensors."""

    def __init__(self, config, file='config.json'):
        super().__init__()
        r = _Config(config, file)
        kind = config.get('model_type')
        act = config.get('hidden_act', 'silu')
        if act not in ('silu', 'swish'):
            raise r.error('hidden_act', f'{act!r} is not supported (supported: "silu")')
        if config.get('partial_rotary_factor') not in (None, 1, 1.0):
            raise r.error('partial_rotary_factor', f'{config["partial_rotary_factor"]!r} is not supported (supported: 1)')
        c, h = r.pos_int('hidden_size'), r.pos_int('num_attention_heads')
        kv = r.pos_int('num_key_value_heads', h)
        if h % kv:
            raise r.error('num_key_value_heads', f'{kv} must divide num_attention_heads {h}')
        if config.get('head_dim') is None and c % h:
            raise r.error('hidden_size', f'{c} is not divisible by num_attention_heads {h} (and head_dim is not given)')
        d = r.pos_int('head_dim', c // h)
        if d % 2:
            raise r.error('head_dim', f'{d} must be even (rotary embeddings rotate pairs)')
        self.inv_freq = rope_inv_freq(r, d)  # float32, a plain attribute: module.to(dtype) must not round it
        attention_bias = kind == 'llama' and r.flag('attention_bias', False)
        qkv_bias, o_bias = kind == 'qwen2' or attention_bias, attention_bias
        mlp_bias = kind == 'llama' and r.flag('mlp_bias', False)
        # A sliding window (Mistral; Qwen2 with use_sliding_window) is not masked here: longer sequences are refused.
        window = None
        if kind == 'mistral' or (kind == 'qwen2' and r.flag('use_sliding_window', False)):
            window = config.get('sliding_window')
            if window is not None:
                window = r.pos_int('sliding_window')
        self.window = window
        self.n_layer, self.n_head, self.n_kv_heads, self.head_dim = r.pos_int('num_hidden_layers'), h, kv, d
        eps = r.positive('rms_norm_eps', 1e-6)
        vocab, inner = r.pos_int('vocab_size'), r.pos_int('intermediate_size')
        self.model = nn.Module()
        self.model.embed_tokens = nn.Embedding(vocab, c)
        self.model.layers = nn.ModuleList(
            LlamaBlock(c, h, kv, d, inner, eps, qkv_bias, o_bias, mlp_bias) for _ in range(self.n_layer))
        self.model.norm = RMSNorm(c, eps)
        self.tied = r.flag('tie_word_embeddings', False)
        if not self.tied:
            self.lm_head = nn.Linear(c, vocab, bias=False)

    def forward(self, ids, positions=None, cache=None):
        """Hidden states after the final norm [B, t, C] of ids [B, t] at positions [B, t] (default 0..t-1)."""
        positions = _positions(ids, positions)
        end = (cache.length if cache is not None else 0) + ids.shape[1]
        if self.window is not None and end > self.window:
            raise ValueError(f'{end} positions exceed sliding_window {self.window} (config.json), which this engine does not mask')
        ctx = _Context(ids.shape[1], positions, cache, ids.device)
        x = self.model.embed_tokens(ids)
        ang = positions[..., None].float() * self.inv_freq.to(ids.device)  # [B, t, D/2], float32 as transformers
        emb = torch.cat([ang, ang], dim=-1)[:, None]
        ctx.rope = (emb.cos().to(x.dtype), emb.sin().to(x.dtype))
        for i, block in enumerate(self.model.layers):
            x = block(x, ctx, i)
        return self.model.norm(x)

    def head(self, hidden):
        w = self.model.embed_tokens.weight if self.tied else self.lm_head.weight
        return hidden @ w.t()
