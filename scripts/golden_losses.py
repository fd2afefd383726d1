#!/usr/bin/env python3
"""Golden values for every A-LoL loss variant, written independently in PyTorch (float64) from the
table in DESIGN.md, section "The A-LoL algorithm (what 'correct' means)". It does not read the
TypeScript implementation; test/unit/losses.test.ts checks the project's ONNX loss graphs against
the JSON this writes.

Regenerate (Debian's python3-torch; CI does NOT run this script, there is no torch there, it only
reads the committed JSON):

  OPENBLAS_NUM_THREADS=1 /usr/bin/python3 scripts/golden_losses.py   # writes test/golden/alol-losses.json

The output is deterministic (fixed seeds, inputs rounded to 4 decimals). Re-running must leave the
file unchanged unless this script changed.

Conventions (shared with the TS side)
  token_logp     [B, T]  policy per-token log-probs of the data tokens; the tensor differentiated
  mask           [B, T]  1 on response positions, 0 on prompt and padding positions
  ref_token_logp [B, T]  reference per-token log-probs (0 where mask is 0)
  reward [B], advantage [B]
  dpo: B = 2P rows, the P chosen rows first, then their P rejected rows in the same order.
  l = sum_t mask_t * token_logp_t (summed, not averaged); l_ref likewise; p_t = exp(token_logp_t);
  A+ = max(A, 0); sg() = detach(); clip(x) = clamp(x, 1 - eps, 1 + eps).
  Loss = mean over the B rows of the per-example loss (mean over the P pairs for dpo).
  grad = d loss / d token_logp by autograd; importance weights are detached, so their derivative
  is not part of it.

Importance-weight statistics (as defined here):
  r_lol, a_lol: weight per row w_i = clip(exp(l_i - l_ref_i)); mean_weight = mean over all B rows;
                clip_fraction = share of the B rows whose weight sits exactly at a bound (i.e. the
                unclipped ratio is outside [1 - eps, 1 + eps]).
  a_lol_seq:    weight per response token w_t = clip(p_t / p_ref_t); mean_weight = mean over all
                masked tokens of the batch; clip_fraction = share of masked tokens at a bound.
  r_gold:       weight per response token max(p_t, 0.1); mean_weight = mean over masked tokens;
                clip_fraction = share of masked tokens with p_t < 0.1 (floored).
  nll, wnll, a_lol_ref_free, a_lol_kl, dpo: no weights, mean_weight = 1, clip_fraction = 0.
"""
import json, math, os, sys
import torch

torch.set_default_dtype(torch.float64)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'golden', 'alol-losses.json')
SINGLE = ['nll', 'wnll', 'r_gold', 'r_lol', 'a_lol', 'a_lol_ref_free', 'a_lol_seq', 'a_lol_kl']
DEFAULTS = {'clipEps': 0.9, 'klBeta': 0.1, 'dpoBeta': 0.1}
GOLD_FLOOR = 0.1


def r4(x):
    """Round to 4 decimals (readable JSON, and the float32 copy the TS side feeds is within 1e-7)."""
    return torch.round(torch.as_tensor(x) * 1e4) / 1e4


def loss_of(variant, s, lp, mask, ref, R, A):
    """Per-variant loss (scalar) and the importance-weight statistics, from DESIGN.md's table."""
    eps, kl_beta, dpo_beta = s['clipEps'], s['klBeta'], s['dpoBeta']
    B = lp.shape[0]
    l = (mask * lp).sum(1)
    l_ref = (mask * ref).sum(1)
    A_pos = A.clamp(min=0)
    lo, hi = 1 - eps, 1 + eps
    one, zero = 1.0, 0.0
    if variant == 'nll':
        per = -l
        mw, cf = one, zero
    elif variant == 'wnll':
        per = R * -l
        mw, cf = one, zero
    elif variant == 'r_gold':
        p = lp.exp()
        w = torch.maximum(p, torch.tensor(GOLD_FLOOR)).detach()
        per = R * (mask * w * -lp).sum(1)
        m = mask.bool()
        mw = w[m].mean().item()
        cf = (p[m] < GOLD_FLOOR).double().mean().item()
    elif variant in ('r_lol', 'a_lol'):
        ratio = (l - l_ref).exp()
        w = ratio.clamp(lo, hi).detach()
        c = R if variant == 'r_lol' else A_pos
        per = c * w * -l
        mw = w.mean().item()
        cf = ((ratio < lo) | (ratio > hi)).double().mean().item()
    elif variant == 'a_lol_ref_free':
        per = A_pos * -l
        mw, cf = one, zero
    elif variant == 'a_lol_seq':
        ratio = (lp - ref).exp()  # p_t / p_ref_t
        w = ratio.clamp(lo, hi).detach()
        per = A_pos * (mask * w * -lp).sum(1)
        m = mask.bool()
        mw = w[m].mean().item()
        cf = ((ratio[m] < lo) | (ratio[m] > hi)).double().mean().item()
    elif variant == 'a_lol_kl':
        per = A_pos * -l + kl_beta * (l - l_ref)
        mw, cf = one, zero
    elif variant == 'dpo':
        P = B // 2
        margin = (l[:P] - l[P:]) - (l_ref[:P] - l_ref[P:])
        per = -torch.nn.functional.logsigmoid(dpo_beta * margin)
        mw, cf = one, zero
    else:
        raise ValueError(variant)
    return per.mean(), mw, cf


def evaluate(variant, s, inp):
    lp = torch.tensor(inp['token_logp'], requires_grad=True)
    mask = torch.tensor(inp['mask'])
    ref = torch.tensor(inp['ref_token_logp'])
    R = torch.tensor(inp['reward'])
    A = torch.tensor(inp['advantage'])
    loss, mw, cf = loss_of(variant, s, lp, mask, ref, R, A)
    (g,) = torch.autograd.grad(loss, lp)
    return {'loss': loss.item(), 'mean_weight': mw, 'clip_fraction': cf, 'grad': g.tolist()}


def make_mask(B, T, spans):
    """spans[i] = (prompt_len, response_len); the rest is padding."""
    m = torch.zeros(B, T)
    for i, (p, r) in enumerate(spans):
        m[i, p:p + r] = 1
    return m


def finish(name, description, s, mask, lp, ref, R, A, variants, pairs=None):
    mask = mask.clone()
    lp = r4(lp)
    ref = r4(ref) * mask  # 0 where mask is 0
    inp = {'token_logp': lp.tolist(), 'mask': mask.tolist(), 'ref_token_logp': ref.tolist(),
           'reward': r4(R).tolist(), 'advantage': r4(A).tolist()}
    B, T = lp.shape
    case = {'name': name, 'description': description, 'B': B, 'T': T, 'settings': s}
    if pairs is not None:
        case['pairs'] = pairs
    case['inputs'] = inp
    case['seq_logprob'] = (torch.tensor(inp['mask']) * torch.tensor(inp['token_logp'])).sum(1).tolist()
    case['expected'] = {v: evaluate(v, s, inp) for v in variants}
    return case


def check_margin(x, bounds, margin, what):
    for b in bounds:
        d = (x - b).abs().min().item()
        assert d > margin, f'{what}: a value within {d:.2e} of bound {b}'


def general_case():
    """B=4, T=6, eps 0.2: sequence ratios and token ratios on both sides of the clip range."""
    s = {'clipEps': 0.2, 'klBeta': 0.25, 'dpoBeta': 0.1}
    B, T = 4, 6
    mask = make_mask(B, T, [(2, 4), (1, 3), (0, 6), (3, 2)])
    R = torch.tensor([0.8, 0.3, 0.65, 1.0])
    A = torch.tensor([0.45, -0.2, 0.3, 0.0])  # rows 1 (A<0) and 3 (A=0) drop out of A-LoL losses
    # target l - l_ref per row: row 0 below 1-eps, row 1 inside, row 2 above 1+eps, row 3 inside
    target = torch.tensor([-0.6, 0.08, 0.45, -0.05])
    g = torch.Generator().manual_seed(20240611)
    lp = torch.log(0.08 + 0.8 * torch.rand(B, T, generator=g))
    delta = (torch.rand(B, T, generator=g) * 1.2 - 0.6) * mask
    n = mask.sum(1)
    delta = (delta + ((target - delta.sum(1)) / n)[:, None]) * mask
    ref = (lp - delta) * mask
    lp, ref = r4(lp), r4(ref) * mask
    assert (ref <= 0).all()
    l, l_ref = (mask * lp).sum(1), (mask * ref).sum(1)
    ratio = (l - l_ref).exp()
    lo, hi = 1 - s['clipEps'], 1 + s['clipEps']
    assert ratio[0] < lo and ratio[2] > hi and lo < ratio[1] < hi and lo < ratio[3] < hi, ratio
    check_margin(ratio, [lo, hi], 1e-3, 'sequence ratio')
    tok = (lp - ref).exp()[mask.bool()]
    assert (tok < lo).any() and (tok > hi).any() and ((tok > lo) & (tok < hi)).any(), tok
    check_margin(tok, [lo, hi], 1e-3, 'token ratio')
    check_margin(lp.exp()[mask.bool()], [GOLD_FLOOR], 1e-3, 'p_t vs floor')
    return finish('general', 'B=4 T=6, eps 0.2 (clipping bites on both sides, rows and tokens), '
                  'prompt prefixes and padding, A < 0 and A = 0 rows, klBeta 0.25',
                  s, mask, lp, ref, R, A, SINGLE)


def step0_case():
    """token_logp == ref_token_logp on the response: every importance weight is exactly 1."""
    s = dict(DEFAULTS)
    B, T = 3, 5
    mask = make_mask(B, T, [(1, 4), (2, 2), (0, 5)])
    g = torch.Generator().manual_seed(7)
    lp = r4(torch.log(0.05 + 0.9 * torch.rand(B, T, generator=g)))
    ref = lp * mask
    R = torch.tensor([0.2, 0.9, 0.55])
    A = torch.tensor([0.1, 0.35, -0.15])
    return finish('step0', 'B=3 T=5, ref_token_logp == token_logp on every response token (step 0), '
                  'DESIGN defaults', s, mask, lp, ref, R, A, SINGLE)


def dpo_case():
    """P=3 pairs: rows 0..2 chosen, rows 3..5 the rejected of the same pair."""
    s = {'clipEps': 0.9, 'klBeta': 0.1, 'dpoBeta': 0.5}
    P, T = 3, 5
    B = 2 * P
    mask = make_mask(B, T, [(2, 3), (1, 4), (0, 2), (2, 2), (1, 3), (0, 5)])
    g = torch.Generator().manual_seed(11)
    lp = r4(torch.log(0.05 + 0.9 * torch.rand(B, T, generator=g)))
    ref = r4(torch.log(0.05 + 0.9 * torch.rand(B, T, generator=g))) * mask
    R = torch.zeros(B)
    A = torch.zeros(B)
    return finish('dpo_pairs', 'P=3 pairs (B=6: 3 chosen rows, then their 3 rejected rows), varied '
                  'lengths, dpoBeta 0.5', s, mask, lp, ref, R, A, ['dpo'], pairs=P)


def floor_case():
    """Probabilities near and under the r_gold floor 0.1."""
    s = dict(DEFAULTS)
    B, T = 3, 5
    mask = make_mask(B, T, [(1, 4), (0, 5), (2, 3)])
    p = torch.tensor([[0.5, 0.02, 0.095, 0.105, 0.3],
                      [0.09, 0.11, 0.001, 0.6, 0.0995],
                      [0.7, 0.4, 0.1015, 0.05, 0.2]])
    lp = r4(p.log())
    g = torch.Generator().manual_seed(3)
    ref = r4(lp + (torch.rand(B, T, generator=g) * 1.6 - 0.8)).clamp(max=-0.01) * mask
    R = torch.tensor([0.7, 0.4, 0.95])
    A = torch.tensor([0.25, 0.05, -0.3])
    assert (lp.exp()[mask.bool()] < GOLD_FLOOR).sum() >= 4
    check_margin(lp.exp()[mask.bool()], [GOLD_FLOOR], 1e-4, 'p_t vs floor')
    return finish('gold_floor', 'B=3 T=5, token probabilities around and under the r_gold floor 0.1 '
                  '(0.001 .. 0.7), DESIGN defaults', s, mask, lp, ref, R, A, SINGLE)


def fmt(x):
    """10 significant digits (far below the 1e-5 tolerance); no negative zero; integers bare."""
    x = float(x)
    if x == 0:
        return '0'
    return '%.10g' % x


def dump(cases):
    """Readable JSON: one matrix row per line."""
    out = ['{', '  "generator": "scripts/golden_losses.py (PyTorch float64, from DESIGN.md)",', '  "cases": [']
    for ci, c in enumerate(cases):
        out.append('    {')
        head = [f'"name": {json.dumps(c["name"])}', f'"description": {json.dumps(c["description"])}',
                f'"B": {c["B"]}', f'"T": {c["T"]}']
        if 'pairs' in c:
            head.append(f'"pairs": {c["pairs"]}')
        head.append(f'"settings": {json.dumps(c["settings"])}')
        for h in head:
            out.append(f'      {h},')

        def mat(key, m, indent):
            rows = [indent + '  [' + ', '.join(fmt(v) for v in r) + ']' for r in m]
            return [f'{indent}"{key}": ['] + [r + (',' if i < len(rows) - 1 else '') for i, r in enumerate(rows)] + [indent + ']']

        def vec(key, v):
            return f'"{key}": [' + ', '.join(fmt(x) for x in v) + ']'

        inp = c['inputs']
        out.append('      "inputs": {')
        for k in ('token_logp', 'mask', 'ref_token_logp'):
            lines = mat(k, inp[k], '        ')
            lines[-1] += ','
            out.extend(lines)
        out.append('        ' + vec('reward', inp['reward']) + ',')
        out.append('        ' + vec('advantage', inp['advantage']))
        out.append('      },')
        out.append('      ' + vec('seq_logprob', c['seq_logprob']) + ',')
        out.append('      "expected": {')
        vs = list(c['expected'].items())
        for vi, (v, e) in enumerate(vs):
            out.append(f'        "{v}": {{ "loss": {fmt(e["loss"])}, "mean_weight": {fmt(e["mean_weight"])}, '
                       f'"clip_fraction": {fmt(e["clip_fraction"])},')
            out.extend(mat('grad', e['grad'], '          '))
            out.append('        }' + (',' if vi < len(vs) - 1 else ''))
        out.append('      }')
        out.append('    }' + (',' if ci < len(cases) - 1 else ''))
    out.append('  ]')
    out.append('}')
    return '\n'.join(out) + '\n'


def main():
    cases = [general_case(), step0_case(), dpo_case(), floor_case()]
    text = dump(cases)
    json.loads(text)  # well-formed
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, 'w') as f:
        f.write(text)
    print(f'wrote {os.path.normpath(OUT)} ({len(text)} bytes, {len(cases)} cases)')
    for c in cases:
        for v, e in c['expected'].items():
            print(f'  {c["name"]:<11} {v:<15} loss {e["loss"]:+.6f}  mean_weight {e["mean_weight"]:.6f}  clip {e["clip_fraction"]:.4f}')


if __name__ == '__main__':
    sys.exit(main())
