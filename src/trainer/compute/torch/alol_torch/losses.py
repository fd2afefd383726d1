"""The loss of every variant over per-token log-probs, as src/trainer/alol/losses.ts (variantLoss) and
baselines.ts (baselineLoss) define them, op for op. Letters: B rows (2P for DPO: P chosen rows, then their
P rejected rows), T positions; l = sum_t m_t logp_t per row (with gradient), l_ref likewise; sg() = detach.

  nll / wnll / a_lol_ref_free   coef * -l
  r_gold         coef * sum_t m_t sg(max(p_t, 0.1)) * -logp_t
  r_lol / a_lol  coef * sg(clip(exp(l_pol - l_ref), 1-eps, 1+eps)) * -l     (l_pol from policy_token_logp)
  a_lol_seq      coef * sum_t m_t sg(clip(exp(logp_pol_t - logp_ref_t), 1-eps, 1+eps)) * -logp_t
  a_lol_kl       coef * -l + klBeta * (l - l_ref)
  dpo            softplus(-dpoBeta * ((l_w - l_l) - (l_ref_w - l_ref_l)))   per pair, averaged over pairs
  baselines      baselines.ts's table (filtered_bc, rwr, awr, kto, qrpo, pro)

`coef` [B] is the per-row factor the pipeline computed (1, R, A+, the filter's keep, q, ...). Per-row losses are
averaged over the batch. Returns (loss, mean_weight, clip_fraction) as 0-d tensors; only loss has a gradient."""
import math

import torch

GOLD_FLOOR = 0.1
VARIANTS = ('nll', 'wnll', 'r_gold', 'r_lol', 'a_lol', 'a_lol_ref_free', 'a_lol_seq', 'a_lol_kl', 'dpo')
BASELINES = ('filtered_bc', 'rwr', 'awr', 'kto', 'qrpo', 'pro')


def _softplus(z):
    """log(1 + e^z) = max(z, 0) + log(1 + e^-|z|), as losses.ts writes it."""
    return z.clamp(min=0) + torch.log(torch.exp(-z.abs()) + 1)


def _clipped(log_ratio, eps, where):
    """Clipped importance weights and 1 where a weight sits at a bound (times `where` when given)."""
    w = log_ratio.exp().clamp(1 - eps, 1 + eps)
    outside = (~((w > 1 - eps) & (w < 1 + eps))).to(log_ratio.dtype)
    return w, outside if where is None else outside * where


def _policy_logp(variant, policy_token_logp):
    if policy_token_logp is None:
        raise ValueError(f"{variant}: importance weights need policy_token_logp (the policy's log-probs from a no-grad pass)")
    return policy_token_logp.detach()


def variant_loss(variant, settings, token_logp, mask, ref_token_logp, coef, policy_token_logp=None, extra=None):
    b = token_logp.shape[0]
    masked = token_logp * mask
    l = masked.sum(1)  # [B]
    l_ref = (ref_token_logp * mask).sum(1)
    tokens = mask.sum().clamp(min=1)
    one, zero = token_logp.new_tensor(1.0), token_logp.new_tensor(0.0)

    def mean(v):
        return v.sum() / b

    def token_weights(w, at_bound):
        return (w * mask).sum() / tokens, at_bound.sum() / tokens

    if variant in BASELINES:
        if settings.get('baseline') is None:
            raise ValueError(f"{variant}: the loss settings lack the baseline's settings (settings.baseline)")
        return _baseline_loss(variant, l, l_ref, mask, coef, extra or {}, settings['baseline'])
    if variant in ('nll', 'wnll', 'a_lol_ref_free'):
        return mean(coef * -l), one, zero
    if variant in ('r_lol', 'a_lol'):
        l_policy = (_policy_logp(variant, policy_token_logp) * mask).sum(1)  # [B], summed like l_ref
        w, at_bound = _clipped(l_policy - l_ref, settings['clipEps'], None)
        return mean(coef * w * -l), mean(w), mean(at_bound)
    if variant == 'a_lol_seq':
        w, at_bound = _clipped(_policy_logp(variant, policy_token_logp) - ref_token_logp, settings['clipEps'], mask)  # [B, T]
        per_row = (w * -masked).sum(1)
        return (mean(coef * per_row), *token_weights(w, at_bound))
    if variant == 'r_gold':
        p = token_logp.detach().exp()
        w = p.clamp(min=GOLD_FLOOR)
        floored = (p < GOLD_FLOOR).to(p.dtype) * mask
        per_row = (w * -masked).sum(1)
        return (mean(coef * per_row), *token_weights(w, floored))
    if variant == 'a_lol_kl':
        return mean(coef * -l + (l - l_ref) * settings['klBeta']), one, zero
    if variant == 'dpo':
        if b % 2:
            raise ValueError(f'dpo: the batch must be P chosen rows then P rejected rows (got {b} rows)')
        p = b // 2
        margin = (l[:p] - l[p:]) - (l_ref[:p] - l_ref[p:])  # [P]
        return _softplus(margin * -settings['dpoBeta']).sum() / p, one, zero
    raise ValueError(f'no loss for variant {variant!r} (known: {", ".join(VARIANTS + BASELINES)})')


def qrpo_log_z(beta):
    """log Z of QRPO for uniform quantile rewards: log(beta (e^(1/beta) - 1)), without overflow."""
    return math.log(beta) + 1 / beta + math.log1p(-math.exp(-1 / beta))


def _need(s, key, variant):
    if s.get(key) is None:
        raise ValueError(f'{variant}: the loss settings lack baseline.{key}')
    return s[key]


def _input(extra, key, variant):
    if extra.get(key) is None:
        raise ValueError(f'{variant}: the loss needs the extra input {key}')
    return extra[key]


def _baseline_loss(variant, l, l_ref, mask, coef, extra, s):
    b = l.shape[0]
    one, zero = l.new_tensor(1.0), l.new_tensor(0.0)

    def mean(v):
        return v.sum() / b

    if variant == 'filtered_bc':
        return mean(coef * -l), one, zero
    if variant in ('rwr', 'awr'):
        tau, w_max = _need(s, 'tau', variant), _need(s, 'wMax', variant)
        x = coef / tau
        e = (x - x.max()).exp()  # shifted: the normalisation cancels the shift
        w = (e / (e.sum() / b)).detach()  # mean 1 over the batch
        clipped = w.clamp(max=w_max)
        at_bound = (w > w_max).to(w.dtype)
        return mean(clipped * -l), mean(clipped), mean(at_bound)
    if variant == 'kto':
        beta, lambda_d, lambda_u = _need(s, 'beta', variant), _need(s, 'lambdaD', variant), _need(s, 'lambdaU', variant)
        kl = _input(extra, 'kl_logp', variant) - _input(extra, 'kl_ref_logp', variant)
        z0 = (kl.sum() / b).clamp(min=0).detach()
        r = l - l_ref
        desirable = (1 - torch.sigmoid((r - z0) * beta)) * lambda_d
        undesirable = (1 - torch.sigmoid((z0 - r) * beta)) * lambda_u
        return mean(coef * desirable + (1 - coef) * undesirable), one, zero
    if variant == 'qrpo':
        beta = _need(s, 'beta', variant)
        resid = (coef - beta * qrpo_log_z(beta)) - (l - l_ref) * beta
        return mean(resid * resid), one, zero
    # pro: per prompt, a stabilised log-sum-exp over the responses ranked after each one (baselines.ts)
    sft_weight = _need(s, 'sftWeight', variant)
    after = _input(extra, 'pro_after', variant)  # [B, B]: 1 where row i ranks after row k in k's prompt
    temp = _input(extra, 'pro_temp', variant)  # [B, B]: R_k - R_i there
    score = l / mask.sum(1).clamp(min=1)  # s [B]
    below = after.sum(1)  # responses ranked after row k (n - 1 on a prompt's best row)
    anchor = below.clamp(max=1)  # rows with a ranking term
    a = score * temp.max(1).values  # s_k T_k
    bij = score[None, :] * temp  # [B, B]: s_i (R_k - R_i)
    cand = bij * after + (after - 1) * 1e4  # -1e4 off the candidates
    c = torch.maximum(a, cand.max(1).values).detach()  # every exponent <= 0
    cands = (after * (bij - c[:, None]).exp()).sum(1)
    inside = anchor * (a - c).exp() + cands + (1 - anchor)  # 1 for rows without a term
    per_row = inside.log() + anchor * (c - a)
    sft = coef * below * below * -l * sft_weight
    prompts = coef.sum().clamp(min=1)
    return (per_row + sft).sum() / prompts, one, zero
