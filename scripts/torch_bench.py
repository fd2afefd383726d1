#!/usr/bin/env python3
"""The PyTorch peer of this project's benchmarks (bench/generate.ts, bench/train.ts): the same model — GPT-2
layout (vocab 257 unless --vocab, 128 positions, hidden 256, 4 layers, 8 heads by default; random weights) — written here in
plain PyTorch eager, float32, and the same workloads:

  train      one optimizer step (forward, cross-entropy, backward, gradient clipping at 1, AdamW) on B16 x T128
  logprobs   forward log-probs of 256 rows of 32 prompt + 96 response tokens, batch 16 (torch.inference_mode)
  generate   greedy decoding with a KV cache (Hugging Face's layout: past keys/values concatenated per token),
             prompt 32 tokens, 64 new tokens, batch 1 and 16 (torch.inference_mode)

Run it with Debian's torch and the thread settings of notes/onnx-training.md (one OpenBLAS thread under torch's
own two):  OPENBLAS_NUM_THREADS=1 /usr/bin/python3 scripts/torch_bench.py [--threads 2] [--json]
`npm run bench:compare` runs it beside this project's benchmarks and prints the ratios. No test calls it.

Sizes: --embd --layers --heads (model), --batch --seq (the training step; positions become max(128, seq)).
--device cuda runs on the GPU (scripts/gpu-check.sh): float32 with TF32 off (matmul and cuDNN), eager, no
torch.compile, synchronized around every timing. --train-only skips log-probs and generation.
"""
import argparse, json, math, sys, time
import torch
import torch.nn.functional as F


class Gpt2:
    """GPT-2 (Conv1D weights [in, out], tanh GELU, tied head) with an optional KV cache."""

    def __init__(self, V, P, C, L, H, seed=0, device='cpu'):
        g = torch.Generator().manual_seed(seed)
        rnd = lambda *s: (0.02 * torch.randn(*s, generator=g)).to(device).requires_grad_()
        ones = lambda n: torch.ones(n, device=device).requires_grad_()
        zeros = lambda n: torch.zeros(n, device=device).requires_grad_()
        self.device = device
        self.C, self.L, self.H = C, L, H
        self.w = {'wte': rnd(V, C), 'wpe': rnd(P, C), 'ln_f.w': ones(C), 'ln_f.b': zeros(C)}
        for i in range(L):
            self.w.update({f'{i}.ln_1.w': ones(C), f'{i}.ln_1.b': zeros(C), f'{i}.attn.w': rnd(C, 3 * C), f'{i}.attn.b': zeros(3 * C),
                           f'{i}.proj.w': rnd(C, C), f'{i}.proj.b': zeros(C), f'{i}.ln_2.w': ones(C), f'{i}.ln_2.b': zeros(C),
                           f'{i}.fc.w': rnd(C, 4 * C), f'{i}.fc.b': zeros(4 * C), f'{i}.mlp.w': rnd(4 * C, C), f'{i}.mlp.b': zeros(C)})

    def forward(self, ids, past=None, start=0):
        """ids [B, T] -> logits [B, T, V] and the cache (per layer keys/values [B, H, P + T, d])."""
        w, C, H = self.w, self.C, self.H
        B, T = ids.shape
        d = C // H
        x = w['wte'][ids] + w['wpe'][start:start + T]
        present = []
        for i in range(self.L):
            a = torch.addmm(w[f'{i}.attn.b'], F.layer_norm(x, (C,), w[f'{i}.ln_1.w'], w[f'{i}.ln_1.b']).view(B * T, C), w[f'{i}.attn.w'])
            q, k, v = (z.view(B, T, H, d).transpose(1, 2) for z in a.view(B, T, 3 * C).split(C, dim=2))
            if past is not None:
                k = torch.cat([past[i][0], k], dim=2)
                v = torch.cat([past[i][1], v], dim=2)
            present.append((k, v))
            att = (q @ k.transpose(-1, -2)) / math.sqrt(d)
            if T > 1:
                att = att.masked_fill(torch.ones(T, T, dtype=torch.bool, device=ids.device).triu(1), float('-inf'))
            y = (att.softmax(-1) @ v).transpose(1, 2).reshape(B * T, C)
            x = x + torch.addmm(w[f'{i}.proj.b'], y, w[f'{i}.proj.w']).view(B, T, C)
            h = F.layer_norm(x, (C,), w[f'{i}.ln_2.w'], w[f'{i}.ln_2.b']).view(B * T, C)
            m = F.gelu(torch.addmm(w[f'{i}.fc.b'], h, w[f'{i}.fc.w']), approximate='tanh')
            x = x + torch.addmm(w[f'{i}.mlp.b'], m, w[f'{i}.mlp.w']).view(B, T, C)
        return F.layer_norm(x, (C,), w['ln_f.w'], w['ln_f.b']) @ w['wte'].T, present


def sync():
    """Waits for the GPU's queued work (no-op on the CPU), so timings cover it."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def best_of(fn, repeats):
    fn()  # warm-up
    best = math.inf
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t0)
    return best


def bench_device(name, script):
    """The torch device of a benchmark (also scripts/torch_llama.py's): on CUDA float32 stays float32 (TF32 off for
    matmuls and cuDNN: no TF32 tensor-core products), and a missing CUDA is an error, not a silent CPU run."""
    if name == 'cuda':
        if not torch.cuda.is_available():
            raise SystemExit(f'{script}: --device cuda but torch.cuda.is_available() is False')
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.cuda.init()
    return torch.device(name)


def main():
    ap = argparse.ArgumentParser()
    sizes = {'threads': 2, 'embd': 256, 'layers': 4, 'heads': 8, 'batch': 16, 'seq': 128, 'prompt': 32, 'new': 64, 'repeats': 3,
             'steps': 10, 'warmup': 3, 'vocab': 257}
    for k, v in sizes.items():
        ap.add_argument(f'--{k}', type=int, default=v)
    ap.add_argument('--device', choices=['cpu', 'cuda'], default='cpu')
    ap.add_argument('--train-only', action='store_true', help='time the training step alone (no log-probs, no generation)')
    ap.add_argument('--json', action='store_true', help='print one JSON line of the figures instead of the table')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dev = bench_device(a.device, 'torch_bench')
    V, P = a.vocab, max(128, a.seq)
    m = Gpt2(V, P, a.embd, a.layers, a.heads, device=dev)
    n_params = sum(t.numel() for n, t in m.w.items())
    rng = torch.Generator().manual_seed(1)
    out = {}

    # training step
    B, T = a.batch, a.seq
    ids, targets = torch.randint(0, V, (B, T), generator=rng).to(dev), torch.randint(0, V, (B, T), generator=rng).to(dev)
    decay = [t for t in m.w.values() if t.dim() == 2]
    rest = [t for t in m.w.values() if t.dim() == 1]
    opt = torch.optim.AdamW([{'params': decay, 'weight_decay': 0.01}, {'params': rest, 'weight_decay': 0.0}], lr=3e-4)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(m.forward(ids)[0].reshape(-1, V), targets.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(m.w.values()), 1.0)
        opt.step()

    for _ in range(a.warmup):
        step()
    times = []
    for _ in range(a.steps):
        sync()
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    out['train_tokens_per_s'] = B * T / sorted(times)[len(times) // 2]
    if a.device == 'cuda':
        out['cuda_peak_mem_bytes'] = torch.cuda.max_memory_allocated()

    if not a.train_only:
        with torch.inference_mode():
            out.update(inference(m, V, a, rng, dev))

    extra = {'device': a.device, **({'gpu': torch.cuda.get_device_name()} if a.device == 'cuda' else {})}
    if a.json:
        print(json.dumps({'torch': torch.__version__, 'threads': a.threads, 'params': n_params, **extra, **out}))
        return 0
    print(f'model           torch {torch.__version__} GPT-2 layout: {a.layers} layers, hidden {a.embd}, {a.heads} heads, vocab {V}; '
          f'{n_params / 1e6:.2f}M params ({a.device}, threads {a.threads})')
    print(f'train           {out["train_tokens_per_s"]:7.0f} tokens/s (B{B} x T{T}, AdamW step, median of {a.steps})')
    if a.train_only:
        return 0
    print(f'logprobs        {out["logprobs_tokens_per_s"]:7.0f} tokens/s forward (256 rows of {a.prompt}+96 tokens, batch 16)')
    for batch in (1, 16):
        print(f'generate        batch {batch:2d} KV cache {out[f"generate_b{batch}_tokens_per_s"]:7.0f} new tokens/s')
    return 0


def inference(m, V, a, rng, dev):
    """Forward log-probs and greedy generation (the caller holds torch.inference_mode())."""
    out = {}
    # forward log-probs: 256 rows of prompt + 96 response tokens, batch 16 (the last token is only a target)
    rows = torch.randint(0, V, (256, a.prompt + 96), generator=rng).to(dev)

    def logprobs():
        for s in range(0, 256, 16):
            r = rows[s:s + 16]
            lp = m.forward(r[:, :-1])[0].log_softmax(-1).gather(2, r[:, 1:].unsqueeze(-1)).squeeze(-1)
            mask = torch.zeros_like(lp)
            mask[:, a.prompt - 1:] = 1
            (lp * mask).sum(1).tolist()
    s = best_of(logprobs, a.repeats)
    out['logprobs_tokens_per_s'] = 256 * (a.prompt + 96 - 1) / s

    for batch in (1, 16):
        prompt = torch.randint(0, 256, (batch, a.prompt), generator=rng).to(dev)

        def generate():
            logits, past = m.forward(prompt)
            tok = logits[:, -1].argmax(-1, keepdim=True)
            toks = [tok]
            for n in range(1, a.new):
                logits, past = m.forward(tok, past, a.prompt + n - 1)
                tok = logits[:, -1].argmax(-1, keepdim=True)
                toks.append(tok)
            torch.cat(toks, 1).tolist()
        out[f'generate_b{batch}_tokens_per_s'] = batch * a.new / best_of(generate, a.repeats)
    return out

if __name__ == '__main__':
    sys.exit(main())
