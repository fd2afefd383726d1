#!/usr/bin/env python3
"""Cross-check `alol` against an independent GPT-2 written here in PyTorch (Debian's python3-torch;
not run in CI, which has no torch). Reads a model folder written by alol (safetensors parsed by hand),
computes response log-probs (float64) and greedy continuations, and compares them with what the
`alol logprobs` / `alol generate` verbs printed.

  python3 scripts/torch_crosscheck.py MODEL_DIR ROWS.jsonl ALOL_LOGPROBS.jsonl [PROMPT ALOL_TEXT ...]
"""
import json, math, struct, sys
import numpy as np
import torch

def load_safetensors(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == '__metadata__':
            continue
        assert e['dtype'] == 'F32', e['dtype']
        a, b = e['data_offsets']
        out[name] = torch.from_numpy(np.frombuffer(data[a:b], dtype='<f4').copy().reshape(e['shape'])).double()
    return out

def gelu_new(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))

def forward(w, cfg, ids):
    T = len(ids)
    C, H = cfg['n_embd'], cfg['n_head']
    eps = cfg.get('layer_norm_epsilon', 1e-5)
    ln = lambda x, p: torch.nn.functional.layer_norm(x, (C,), w[p + '.weight'], w[p + '.bias'], eps)
    x = w['transformer.wte.weight'][ids] + w['transformer.wpe.weight'][:T]
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for i in range(cfg['n_layer']):
        h = f'transformer.h.{i}'
        a = ln(x, h + '.ln_1') @ w[h + '.attn.c_attn.weight'] + w[h + '.attn.c_attn.bias']
        q, k, v = a.split(C, dim=1)
        q, k, v = (z.view(T, H, C // H).transpose(0, 1) for z in (q, k, v))
        att = (q @ k.transpose(1, 2)) / math.sqrt(C // H)
        att = att.masked_fill(~mask, float('-inf')).softmax(-1)
        y = (att @ v).transpose(0, 1).reshape(T, C)
        x = x + y @ w[h + '.attn.c_proj.weight'] + w[h + '.attn.c_proj.bias']
        m = gelu_new(ln(x, h + '.ln_2') @ w[h + '.mlp.c_fc.weight'] + w[h + '.mlp.c_fc.bias'])
        x = x + m @ w[h + '.mlp.c_proj.weight'] + w[h + '.mlp.c_proj.bias']
    return ln(x, 'transformer.ln_f') @ w['transformer.wte.weight'].T

def main():
    model, rows_path, ours_path, *gen = sys.argv[1:]
    cfg = json.load(open(f'{model}/config.json'))
    w = load_safetensors(f'{model}/model.safetensors')
    enc = lambda s: list(s.encode('utf-8'))  # byte-level tokenizer: byte b is token b
    rows = [json.loads(l) for l in open(rows_path, encoding='utf-8') if l.strip()]
    ours = [json.loads(l) for l in open(ours_path)]
    worst = 0.0
    for r, o in zip(rows, ours):
        p, resp = enc(r['prompt']), enc(r['response'])
        seq = (p + resp)[-(cfg['n_positions'] + 1):]
        logp = forward(w, cfg, seq[:-1]).log_softmax(-1)
        lp = sum(logp[j - 1, seq[j]].item() for j in range(len(seq) - len(resp), len(seq)))
        worst = max(worst, abs(lp - o['logprob']) / max(1.0, abs(lp)))
    print(f'logprobs: {len(rows)} rows, worst relative difference {worst:.2e}')
    for prompt, text in zip(gen[0::2], gen[1::2]):
        ids = enc(prompt)
        for _ in range(len(text.encode('utf-8'))):
            ids.append(int(forward(w, cfg, ids)[-1].argmax()))
        ref = bytes(ids[len(enc(prompt)):]).decode('utf-8', errors='replace')
        print(f'greedy {"match" if ref == text else "DIFFER"}: {prompt!r} -> {ref!r}' + ('' if ref == text else f' (alol {text!r})'))
    return 0 if worst < 1e-3 else 1

if __name__ == '__main__':
    sys.exit(main())
