#!/usr/bin/python3
"""An independent Llama-family model (Llama, Qwen2, Mistral; Hugging Face's layout and arithmetic)
written here in plain PyTorch (Debian's python3-torch; not run in CI, which has no torch). Two jobs:

  check: read a model folder (model.safetensors or shards, F32/F16/BF16 parsed by hand), compute response
         log-probs (float64) and greedy continuations, compare with what `alol logprobs` / `alol generate`
         printed:
           python3 scripts/torch_llama.py check MODEL_DIR ROWS.jsonl ALOL_LOGPROBS.jsonl [PROMPT ALOL_TEXT ...]
         With --adapter DIR (before MODEL_DIR), a LoRA adapter in PEFT's layout (adapter_config.json,
         adapter_model.safetensors) applies as PEFT's LoRA Linear does, y = W x + b + (lora_alpha / r) * B (A x),
         not merged (compare with `alol logprobs --model MODEL_DIR --adapter DIR`, without --add-eos).
  bench: the training step of `npm run bench:train -- --arch llama` (same sizes, random weights, next-token
         NLL, forward + backward + global-norm clipping + AdamW, float32) and its tokens/s:
           python3 scripts/torch_llama.py bench [--batch 16 --seq 128 --embd 256 --layers 4 --heads 8
                                                 --kv-heads 4 --steps 10 --warmup 3 --threads 2]
                                                [--vocab 257 --inner N --lora R --lora-dropout 0.05 --device cpu|cuda --json]
         (--lora R: the base frozen, rank-R adapters with alpha 2R on every projection, as `bench:train --lora R`;
         --device cuda: TF32 off, synchronized around each step)
scripts/bench-llama-torch.sh runs both benchmarks alternately and prints their ratio.
"""
import argparse, json, math, os, struct, sys, time
import numpy as np
import torch
import torch.nn.functional as F

# ---- model -------------------------------------------------------------------------------------------------

def rms_norm(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))

def rope_inv_freq(cfg, d):
    inv = 1.0 / (cfg.get('rope_theta', 10000.0) ** (torch.arange(0, d, 2, dtype=torch.float32) / d))
    s = cfg.get('rope_scaling') or {}
    kind = s.get('rope_type', s.get('type', 'default'))
    if kind == 'linear':
        inv = inv / s['factor']
    elif kind == 'llama3':
        old, lo, hi, f = s['original_max_position_embeddings'], s['low_freq_factor'], s['high_freq_factor'], s['factor']
        wl = 2 * math.pi / inv
        smooth = (old / wl - lo) / (hi - lo)
        mid = (1 - smooth) * inv / f + smooth * inv
        inv = torch.where(wl > old / lo, inv / f, torch.where(wl < old / hi, inv, mid))
    elif kind != 'default':
        raise SystemExit(f'rope_scaling {kind} is not implemented here')
    return inv

def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)

class Llama:
    def __init__(self, cfg, w, lora=None, lora_dropout=0.0):
        self.cfg, self.w = cfg, w
        self.lora = lora  # (scale, {module: (A, B)}) or None
        self.lora_dropout = lora_dropout  # PEFT's lora_dropout on the adapter's input (training only: bench)
        self.C = cfg['hidden_size']
        self.H = cfg['num_attention_heads']
        self.K = cfg.get('num_key_value_heads') or self.H
        self.d = cfg.get('head_dim') or self.C // self.H
        self.eps = cfg.get('rms_norm_eps', 1e-6)
        self.inv_freq = rope_inv_freq(cfg, self.d)
        self.tied = cfg.get('tie_word_embeddings', False)

    def lin(self, x, name):
        y = x @ self.w[name + '.weight'].T
        b = self.w.get(name + '.bias')
        y = y if b is None else y + b
        if self.lora and name in self.lora[1]:
            A, B = self.lora[1][name]
            xa = F.dropout(x, self.lora_dropout, training=True) if self.lora_dropout > 0 else x
            y = y + self.lora[0] * ((xa @ A.T) @ B.T)
        return y

    def forward(self, ids):  # ids [B, T] -> logits [B, T, V]
        w, (B, T) = self.w, ids.shape
        x = w['model.embed_tokens.weight'][ids]
        dt = x.dtype
        dev = ids.device
        ang = torch.arange(T, dtype=torch.float32, device=dev)[:, None] * self.inv_freq.to(dev)[None, :]
        emb = torch.cat([ang, ang], dim=-1)
        cos, sin = emb.cos().to(dt), emb.sin().to(dt)  # [T, d]
        causal = torch.full((T, T), float('-inf'), dtype=dt, device=dev).triu(1)
        for i in range(self.cfg['num_hidden_layers']):
            p = f'model.layers.{i}'
            h = rms_norm(x, w[p + '.input_layernorm.weight'], self.eps)
            q = self.lin(h, p + '.self_attn.q_proj').view(B, T, self.H, self.d).transpose(1, 2)
            k = self.lin(h, p + '.self_attn.k_proj').view(B, T, self.K, self.d).transpose(1, 2)
            v = self.lin(h, p + '.self_attn.v_proj').view(B, T, self.K, self.d).transpose(1, 2)
            q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
            k, v = k.repeat_interleave(self.H // self.K, dim=1), v.repeat_interleave(self.H // self.K, dim=1)
            att = ((q @ k.transpose(-1, -2)) / math.sqrt(self.d) + causal).softmax(-1)
            y = (att @ v).transpose(1, 2).reshape(B, T, self.H * self.d)
            x = x + self.lin(y, p + '.self_attn.o_proj')
            h = rms_norm(x, w[p + '.post_attention_layernorm.weight'], self.eps)
            x = x + self.lin(F.silu(self.lin(h, p + '.mlp.gate_proj')) * self.lin(h, p + '.mlp.up_proj'), p + '.mlp.down_proj')
        x = rms_norm(x, w['model.norm.weight'], self.eps)
        head = w['model.embed_tokens.weight'] if self.tied else w['lm_head.weight']
        return x @ head.T

# ---- check -------------------------------------------------------------------------------------------------

DTYPES = {'F32': '<f4', 'F16': '<f2', 'F64': '<f8'}

def read_safetensors(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == '__metadata__':
            continue
        a, b = e['data_offsets']
        if e['dtype'] == 'BF16':  # the top half of a float32
            arr = (np.frombuffer(data[a:b], dtype='<u2').astype(np.uint32) << 16).view(np.float32)
        else:
            arr = np.frombuffer(data[a:b], dtype=DTYPES[e['dtype']]).astype(np.float64)
        out[name] = torch.from_numpy(np.array(arr, dtype=np.float64).reshape(e['shape']))
    return out

def load_folder(model):
    cfg = json.load(open(os.path.join(model, 'config.json')))
    single = os.path.join(model, 'model.safetensors')
    if os.path.exists(single):
        w = read_safetensors(single)
    else:
        index = json.load(open(os.path.join(model, 'model.safetensors.index.json')))
        w = {}
        for shard in sorted(set(index['weight_map'].values())):
            w.update(read_safetensors(os.path.join(model, shard)))
    return cfg, w

def load_adapter(folder):
    ac = json.load(open(os.path.join(folder, 'adapter_config.json')))
    assert ac['peft_type'] == 'LORA' and not ac.get('use_rslora'), ac
    t = read_safetensors(os.path.join(folder, 'adapter_model.safetensors'))
    mods = {}
    for k, v in t.items():
        name, which = k.removeprefix('base_model.model.').replace('.default', '').rsplit('.lora_', 1)
        mods.setdefault(name, {})[which[0]] = v
    return ac['lora_alpha'] / ac['r'], {n: (ab['A'], ab['B']) for n, ab in mods.items()}

def check(args):
    cfg, w = load_folder(args.model)
    lora = load_adapter(args.adapter) if args.adapter else None
    if lora:
        print(f'adapter: {len(lora[1])} modules, scale {lora[0]}')
    m = Llama(cfg, w, lora)
    enc = lambda s: list(s.encode('utf-8'))  # byte-level tokenizer: byte b is token b
    rows = [json.loads(l) for l in open(args.rows, encoding='utf-8') if l.strip()]
    ours = [json.loads(l) for l in open(args.ours)]
    worst = 0.0
    limit = cfg['max_position_embeddings']
    for r, o in zip(rows, ours):
        p, resp = enc(r['prompt']), enc(r['response'])
        seq = (p + resp)[-(limit + 1):]
        logp = m.forward(torch.tensor([seq[:-1]]))[0].log_softmax(-1)
        lp = sum(logp[j - 1, seq[j]].item() for j in range(len(seq) - len(resp), len(seq)))
        worst = max(worst, abs(lp - o['logprob']) / max(1.0, abs(lp)))
    print(f'logprobs: {len(rows)} rows, worst relative difference {worst:.2e}')
    for prompt, text in zip(args.gen[0::2], args.gen[1::2]):
        ids = enc(prompt)
        for _ in range(len(text.encode('utf-8'))):
            ids.append(int(m.forward(torch.tensor([ids]))[0, -1].argmax()))
        ref = bytes(ids[len(enc(prompt)):]).decode('utf-8', errors='replace')
        print(f'greedy {"match" if ref == text else "DIFFER"}: {prompt!r} -> {ref!r}' + ('' if ref == text else f' (alol {text!r})'))
    return 0 if worst < 1e-3 else 1

# ---- bench -------------------------------------------------------------------------------------------------

def bench(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    from torch_bench import bench_device  # scripts/ is on sys.path when this runs as a script (and in the GPU bundle)
    dev = bench_device(args.device, 'torch_llama')
    C, L, H, K = args.embd, args.layers, args.heads, args.kv_heads
    d, V, T, B = C // H, args.vocab, args.seq, args.batch
    inner = args.inner or math.ceil(8 * C / 3 / 32) * 32  # as `alol init-model --arch llama` and bench:train choose it
    cfg = {'hidden_size': C, 'num_attention_heads': H, 'num_key_value_heads': K, 'num_hidden_layers': L, 'rms_norm_eps': 1e-5,
           'rope_theta': 10000.0, 'tie_word_embeddings': False, 'max_position_embeddings': T}
    shapes = {'model.embed_tokens.weight': (V, C), 'model.norm.weight': (C,), 'lm_head.weight': (V, C)}
    for i in range(L):
        p = f'model.layers.{i}'
        shapes.update({p + '.input_layernorm.weight': (C,), p + '.post_attention_layernorm.weight': (C,),
                       p + '.self_attn.q_proj.weight': (H * d, C), p + '.self_attn.k_proj.weight': (K * d, C),
                       p + '.self_attn.v_proj.weight': (K * d, C), p + '.self_attn.o_proj.weight': (C, H * d),
                       p + '.mlp.gate_proj.weight': (inner, C), p + '.mlp.up_proj.weight': (inner, C), p + '.mlp.down_proj.weight': (C, inner)})
    r = args.lora
    # with --lora R the base is frozen and rank-R adapters (alpha 2R, every projection, dropout) are what AdamW trains
    w = {n: (torch.ones(s, device=dev) if len(s) == 1 else 0.02 * torch.randn(s, device=dev)).requires_grad_(r == 0)
         for n, s in shapes.items()}
    lora = None
    if r > 0:
        mods = {}
        for i in range(L):
            for m in ('self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj',
                      'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj'):
                out_f, in_f = shapes[f'model.layers.{i}.{m}.weight']
                A = ((torch.rand(r, in_f, device=dev) * 2 - 1) / math.sqrt(in_f)).requires_grad_()
                mods[f'model.layers.{i}.{m}'] = (A, torch.zeros(out_f, r, device=dev).requires_grad_())
        lora = (2.0, mods)
        trained = [t for ab in mods.values() for t in ab]
    else:
        trained = list(w.values())
    decay = [t for t in trained if t.dim() == 2]
    rest = [t for t in trained if t.dim() == 1]
    groups = [{'params': decay, 'weight_decay': 0.01}] + ([{'params': rest, 'weight_decay': 0.0}] if rest else [])
    opt = torch.optim.AdamW(groups, lr=3e-4)
    m = Llama(cfg, w, lora, lora_dropout=args.lora_dropout if r > 0 else 0.0)
    ids = torch.randint(0, V, (B, T)).to(dev)
    targets = torch.randint(0, V, (B, T)).to(dev)
    n_params = sum(t.numel() for t in w.values())
    sync = torch.cuda.synchronize if args.device == 'cuda' else (lambda: None)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(m.forward(ids).reshape(-1, V), targets.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trained, 1.0)
        opt.step()
        return loss.item()

    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.steps):
        sync()
        t0 = time.perf_counter()
        loss = step()
        sync()
        times.append(time.perf_counter() - t0)
    ms = sorted(times)[len(times) // 2] * 1e3
    tokens_per_s = B * T / (ms / 1e3)
    adapters = f'; LoRA rank {r}: {sum(t.numel() for t in trained)} trained' if r > 0 else ''
    print(f'model            torch {torch.__version__} Llama layout: {L} layers, hidden {C}, {H} heads / {K} kv heads, MLP {inner}, '
          f'vocab {V}; {n_params / 1e6:.2f}M params{adapters} on {args.device}')
    print(f'step             median {ms:.1f} ms over {len(times)}, loss {loss:.3f} (threads {args.threads})')
    print(f'tokens/s         {tokens_per_s:.0f}')
    if args.json:
        gpu = torch.cuda.get_device_name(0) if args.device == 'cuda' else None
        print(json.dumps({'train_tokens_per_s': tokens_per_s, 'torch': torch.__version__, 'gpu': gpu, 'lora_rank': r or None,
                          'params': n_params}))
    return 0

def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest='cmd', required=True)
    c = sub.add_parser('check')
    c.add_argument('model'); c.add_argument('rows'); c.add_argument('ours'); c.add_argument('gen', nargs='*')
    c.add_argument('--adapter', default=None)
    b = sub.add_parser('bench')
    for k, v in {'batch': 16, 'seq': 128, 'embd': 256, 'layers': 4, 'heads': 8, 'kv-heads': 4, 'steps': 10, 'warmup': 3, 'threads': 2,
                 'vocab': 257, 'inner': 0, 'lora': 0}.items():
        b.add_argument(f'--{k}', type=int, default=v)
    b.add_argument('--lora-dropout', type=float, default=0.05)
    b.add_argument('--device', choices=['cpu', 'cuda'], default='cpu')
    b.add_argument('--json', action='store_true', help='also print one JSON line of the figures')
    args = ap.parse_args()
    if args.cmd == 'check':
        torch.set_default_dtype(torch.float64)
        return check(args)
    return bench(args)

if __name__ == '__main__':
    sys.exit(main())
