#!/usr/bin/env python3
"""Golden values for the baseline losses of issue 25 (filtered_bc, rwr, awr, kto, qrpo, pro), written
independently in PyTorch (float64) from the issue's table only; it does not read the TypeScript.
test/unit/baseline-losses.test.ts checks the project's ONNX loss graphs (buildLossGraph, the loss
subgraph the training step runs) against the JSON this writes.

Regenerate (Debian's python3-torch; CI only reads the committed JSON):

  OPENBLAS_NUM_THREADS=1 /usr/bin/python3 scripts/golden_baselines.py   # writes test/golden/baseline-losses.json

Conventions (as scripts/golden_losses.py): token_logp [B, T] is differentiated; mask [B, T] marks response
positions; l = sum_t mask * token_logp, l_ref likewise; R = reward [B], A = advantage [B]; a row's prompt
is `prompt` [B] (a prompt id; -1: a padding row that belongs to no prompt). Loss = mean over the B rows of
the per-row loss, except pro: the sum over each prompt's ranking terms and SFT term, averaged over the
prompts of the batch. Definitions (the issue's table):

  filtered_bc  NLL (-l) on kept rows, 0 on the others; kept: R >= threshold (null: the median of R, the mean
               of the two middle values for an even count), or best_of_prompt: per prompt the row of the
               highest R, ties to the first row.
  rwr / awr    w * -l with w = exp(R / tau) (awr: exp(A / tau)), normalised to mean 1 over the batch, then
               clipped at wMax; mean_weight = mean of the clipped w, clip_fraction = share with w > wMax.
  kto          desirable (R >= threshold, null: median): lambdaD (1 - sigmoid(beta (l - l_ref - z0)));
               undesirable: lambdaU (1 - sigmoid(beta (z0 - (l - l_ref)))); z0 = max(0, mean(kl_logp -
               kl_ref_logp)) detached, kl_* the summed log-probs of mismatched (prompt, response) rows.
  qrpo         (q - beta log Z - beta (l - l_ref))^2, q = share of the row's reference rewards <= R,
               log Z = log(beta (e^(1/beta) - 1)).
  pro          per prompt, responses ordered by R high to low (ties: the earlier row first); s = l / |y|
               (|y| response tokens); for each rank k < n: log(exp(s_k T_k) + sum_{i>k} exp(s_i (R_k - R_i)))
               - s_k T_k with T_k = max_{i>k} (R_k - R_i) (the A-LoL authors' PRO script: reward differences
               as temperatures); plus sftWeight * (n - 1)^2 * -l(best).
"""
import json, math, os, sys
import torch

torch.set_default_dtype(torch.float64)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'golden', 'baseline-losses.json')


def r4(x):
    return torch.round(torch.as_tensor(x) * 1e4) / 1e4


def median(xs):
    s = sorted(xs)
    m = len(s) // 2
    return s[m] if len(s) % 2 else (s[m - 1] + s[m]) / 2


def prompts_of(prompt):
    """Rows per prompt id, in first-appearance order; padding rows (-1) excluded."""
    out = {}
    for i, p in enumerate(prompt):
        if p >= 0:
            out.setdefault(p, []).append(i)
    return list(out.values())


def ranked(rows, R):
    return sorted(rows, key=lambda i: (-R[i], rows.index(i)))


def loss_of(variant, s, inp, lp):
    mask = torch.tensor(inp['mask'])
    ref = torch.tensor(inp['ref_token_logp'])
    R = inp['reward']
    A = inp['advantage']
    B = lp.shape[0]
    l = (mask * lp).sum(1)
    l_ref = (mask * ref).sum(1)
    mw, cf = 1.0, 0.0
    if variant == 'filtered_bc':
        if s['filter'] == 'threshold':
            t = median(R) if s['threshold'] is None else s['threshold']
            keep = [1.0 if r >= t else 0.0 for r in R]
        else:
            keep = [0.0] * B
            for rows in prompts_of(inp['prompt']):
                keep[ranked(rows, R)[0]] = 1.0
        per = torch.tensor(keep) * -l
    elif variant in ('rwr', 'awr'):
        x = torch.tensor(R if variant == 'rwr' else A)
        w = torch.exp(x / s['tau'])
        w = w / w.mean()
        wc = w.clamp(max=s['wMax'])
        per = wc * -l
        mw = wc.mean().item()
        cf = (w > s['wMax']).double().mean().item()
    elif variant == 'kto':
        t = median(R) if s['threshold'] is None else s['threshold']
        z0 = (torch.tensor(inp['kl_logp']) - torch.tensor(inp['kl_ref_logp'])).mean().clamp(min=0).detach()
        r = l - l_ref
        des = torch.tensor([1.0 if x >= t else 0.0 for x in R])
        per = des * s['lambdaD'] * (1 - torch.sigmoid(s['beta'] * (r - z0))) + \
            (1 - des) * s['lambdaU'] * (1 - torch.sigmoid(s['beta'] * (z0 - r)))
    elif variant == 'qrpo':
        beta = s['beta']
        q = torch.tensor([sum(1 for x in refs if x <= R[i]) / len(refs) for i, refs in enumerate(inp['ref_rewards'])])
        log_z = math.log(beta * (math.exp(1 / beta) - 1))
        per = (q - beta * log_z - beta * (l - l_ref)) ** 2
    elif variant == 'pro':
        groups = prompts_of(inp['prompt'])
        total = 0
        for rows in groups:
            order = ranked(rows, R)
            n = len(order)
            sc = {i: l[i] / mask[i].sum() for i in order}
            for k in range(n - 1):
                rest = order[k + 1:]
                diffs = [R[order[k]] - R[i] for i in rest]
                T = max(diffs)
                terms = torch.stack([sc[order[k]] * T] + [sc[i] * d for i, d in zip(rest, diffs)])
                total = total + torch.logsumexp(terms, 0) - sc[order[k]] * T
            total = total + s['sftWeight'] * (n - 1) ** 2 * -l[order[0]]
        return total / len(groups), mw, cf
    else:
        raise ValueError(variant)
    return per.mean(), mw, cf


def evaluate(variant, s, inp):
    lp = torch.tensor(inp['token_logp'], requires_grad=True)
    loss, mw, cf = loss_of(variant, s, inp, lp)
    (g,) = torch.autograd.grad(loss, lp)
    return {'loss': loss.item(), 'mean_weight': mw, 'clip_fraction': cf, 'grad': g.tolist()}


def make_mask(B, T, spans):
    m = torch.zeros(B, T)
    for i, (p, r) in enumerate(spans):
        m[i, p:p + r] = 1
    return m


def build(name, description, seed, spans, prompt, R, A, runs, T=6, extra=None):
    B = len(spans)
    g = torch.Generator().manual_seed(seed)
    mask = make_mask(B, T, spans)
    lp = r4(torch.log(0.05 + 0.9 * torch.rand(B, T, generator=g)))
    ref = r4(torch.log(0.05 + 0.9 * torch.rand(B, T, generator=g))) * mask
    inp = {'token_logp': lp.tolist(), 'mask': mask.tolist(), 'ref_token_logp': ref.tolist(),
           'reward': [float(x) for x in R], 'advantage': [float(x) for x in A], 'prompt': prompt}
    inp.update(extra or {})
    case = {'name': name, 'description': description, 'B': B, 'T': T, 'inputs': inp, 'runs': []}
    for variant, label, s, over in runs:
        run_inp = dict(inp, **over)
        e = evaluate(variant, s, run_inp)
        case['runs'].append({'variant': variant, 'label': label, 'settings': s, 'overrides': over, **e})
    return case


def groups_case():
    # prompt 0: four responses, a tie at the top (rows 0 and 2); prompt 1: two tied responses; prompt 2: one.
    prompt = [0, 0, 0, 0, 1, 1, 2]
    R = [0.7, 0.2, 0.7, 0.4, 0.5, 0.5, 0.9]  # median 0.5: rows 4 and 5 sit exactly on the threshold
    A = [0.3, -0.25, 0.1, -0.05, 0.45, -0.6, 0.2]
    spans = [(2, 4), (1, 3), (0, 6), (3, 2), (2, 3), (1, 5), (2, 4)]
    refs = [[0.7, 0.7, 0.1, 0.9], [0.2, 0.3, 0.1, 0.5], [0.8, 0.9, 0.95, 1.0], [0.4, 0.4, 0.4, 0.4],
            [0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.5, 0.2], [0.9, 0.3, 0.9, 0.9]]  # ties with R; q from 0 to 1
    kl = {'kl_logp': [-3.1, -4.2, -2.0, -5.5, -3.3, -2.8, -4.0], 'kl_ref_logp': [-3.6, -4.0, -2.9, -5.1, -3.9, -3.5, -4.4]}
    kl_neg = {'kl_logp': [-3.6, -4.0, -2.9, -5.1, -3.9, -3.5, -4.4], 'kl_ref_logp': [-3.1, -4.2, -2.0, -5.5, -3.3, -2.8, -4.0]}
    runs = [
        ('filtered_bc', 'median threshold (rows on it kept)', {'filter': 'threshold', 'threshold': None}, {}),
        ('filtered_bc', 'threshold 0.65', {'filter': 'threshold', 'threshold': 0.65}, {}),
        ('filtered_bc', 'best_of_prompt (tie at the top: the first row)', {'filter': 'best_of_prompt', 'threshold': None}, {}),
        ('rwr', 'tau 0.1, wMax 2 (the 0.9 row clipped)', {'tau': 0.1, 'wMax': 2.0}, {}),
        ('rwr', 'tau 0.5, wMax 20 (no clip)', {'tau': 0.5, 'wMax': 20.0}, {}),
        ('awr', 'tau 0.2, wMax 3 (clipped)', {'tau': 0.2, 'wMax': 3.0}, {}),
        ('kto', 'defaults, z0 > 0', {'beta': 0.1, 'lambdaD': 1.0, 'lambdaU': 1.0, 'threshold': None}, kl),
        ('kto', 'beta 0.5, lambdaD 1.3, lambdaU 0.7, threshold 0.45, z0 > 0',
         {'beta': 0.5, 'lambdaD': 1.3, 'lambdaU': 0.7, 'threshold': 0.45}, kl),
        ('kto', 'defaults, mismatched KL estimate < 0: z0 clamped at 0', {'beta': 0.1, 'lambdaD': 1.0, 'lambdaU': 1.0, 'threshold': None},
         kl_neg),
        ('qrpo', 'beta 0.1, reference rewards with ties', {'beta': 0.1}, {}),
        ('qrpo', 'beta 0.5', {'beta': 0.5}, {}),
        ('pro', 'sftWeight 0.05 (ties at the top and a fully tied prompt)', {'sftWeight': 0.05}, {}),
        ('pro', 'sftWeight 0.5', {'sftWeight': 0.5}, {}),
    ]
    return build('groups', 'B=7 T=6: prompts of 4, 2 and 1 responses, reward ties, rows on the median, A of both signs',
                 20250601, spans, prompt, R, A, runs, extra={'ref_rewards': refs, **kl})


def pro_case():
    # three prompts with distinct rewards, interleaved in the batch, plus two padding rows (mask 0).
    prompt = [0, 1, 0, 2, 1, 0, 2, -1, -1]
    R = [0.3, 0.9, 0.8, 0.1, 0.2, 0.55, 0.6, 0.0, 0.0]
    A = [0.0] * 9
    spans = [(1, 4), (2, 3), (0, 5), (2, 2), (1, 5), (3, 3), (0, 6), (0, 0), (0, 0)]
    runs = [('pro', 'sftWeight 0.05', {'sftWeight': 0.05}, {}), ('pro', 'sftWeight 0', {'sftWeight': 0.0}, {})]
    return build('pro_batch', 'B=9 T=6: prompts of 3, 2 and 2 responses interleaved in the batch, two padding rows (prompt -1)',
                 77, spans, prompt, R, A, runs)


def fmt(x):
    x = float(x)
    if x == 0:
        return '0'
    if math.isnan(x):
        return 'null'
    return '%.10g' % x


def dump(cases):
    out = ['{', '  "generator": "scripts/golden_baselines.py (PyTorch float64, from issue 25\'s table)",', '  "cases": [']
    for ci, c in enumerate(cases):
        out.append('    {')
        out.append(f'      "name": {json.dumps(c["name"])}, "description": {json.dumps(c["description"])}, "B": {c["B"]}, "T": {c["T"]},')
        inp = c['inputs']
        out.append('      "inputs": {')
        keys = list(inp.keys())
        for ki, k in enumerate(keys):
            v = inp[k]
            sep = ',' if ki < len(keys) - 1 else ''
            if isinstance(v, list) and v and isinstance(v[0], list):
                out.append(f'        "{k}": [')
                out.extend('          [' + ', '.join(fmt(x) for x in r) + ']' + (',' if i < len(v) - 1 else '') for i, r in enumerate(v))
                out.append('        ]' + sep)
            else:
                out.append(f'        "{k}": [' + ', '.join(fmt(x) for x in v) + ']' + sep)
        out.append('      },')
        out.append('      "runs": [')
        for ri, r in enumerate(c['runs']):
            out.append(f'        {{ "variant": "{r["variant"]}", "label": {json.dumps(r["label"])}, "settings": {json.dumps(r["settings"])},')
            out.append(f'          "overrides": {json.dumps(r["overrides"])},')
            out.append(f'          "loss": {fmt(r["loss"])}, "mean_weight": {fmt(r["mean_weight"])}, "clip_fraction": {fmt(r["clip_fraction"])},')
            out.append('          "grad": [')
            g = r['grad']
            out.extend('            [' + ', '.join(fmt(x) for x in row) + ']' + (',' if i < len(g) - 1 else '') for i, row in enumerate(g))
            out.append('          ]')
            out.append('        }' + (',' if ri < len(c['runs']) - 1 else ''))
        out.append('      ]')
        out.append('    }' + (',' if ci < len(cases) - 1 else ''))
    out.append('  ]')
    out.append('}')
    return '\n'.join(out) + '\n'


def main():
    cases = [groups_case(), pro_case()]
    text = dump(cases)
    json.loads(text)
    with open(OUT, 'w') as f:
        f.write(text)
    print(f'wrote {os.path.normpath(OUT)} ({len(text)} bytes, {len(cases)} cases)')
    for c in cases:
        for r in c['runs']:
            print(f'  {c["name"]:<10} {r["variant"]:<12} loss {r["loss"]:+.6f}  mw {r["mean_weight"]:.4f}  cf {r["clip_fraction"]:.4f}  {r["label"]}')


if __name__ == '__main__':
    sys.exit(main())
