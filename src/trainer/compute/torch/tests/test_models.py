"""The model side of the PyTorch worker against the independent fixtures (/work/shared/fixtures: tiny GPT-2,
Llama and Qwen2 written by someone else's PyTorch, byte-level: token b is byte b) and the repository's golden
loss values (test/golden/alol-losses.json, baseline-losses.json).

  cd src/trainer/compute/torch && OPENBLAS_NUM_THREADS=1 python3 -m unittest -v

The transformers / peft tests skip unless those packages import (they run on the GPU machine)."""
import json
import os
import shutil
import struct
import tempfile
import unittest

import torch

from alol_torch.generate import generate
from alol_torch.lora import add_lora, merged_weights
from alol_torch.losses import variant_loss
from alol_torch.models import build_builtin, load_model, token_logprobs

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, '..', '..', '..', '..', '..'))
FIXTURES = os.environ.get('ALOL_FIXTURES', '/work/shared/fixtures')
ARCHS = ('gpt2', 'llama', 'qwen2')
EOS = 256


def _importable(name):
    try:
        __import__(name)
        return True
    except ImportError:
        return False


HAVE_TRANSFORMERS = _importable('transformers')
HAVE_PEFT = _importable('peft')


def fixture(arch, name=None):
    folder = os.path.join(FIXTURES, f'{arch}-tiny-independent')
    return os.path.join(folder, 'model') if name is None else os.path.join(folder, name)


def read_json(path):
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def enc(text):
    return list(text.encode('utf-8'))


def response_logprobs(lm, prompt, response):
    """Per-token log-probs of the response given the prompt, their bytes concatenated (one row)."""
    ids = torch.tensor([prompt + response])
    with torch.no_grad():
        lp = token_logprobs(lm.logits(ids[:, :-1]), ids[:, 1:])[0]
    return lp[len(prompt) - 1:]


def safetensors_keys(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        return set(json.loads(f.read(n))) - {'__metadata__'}


def head_weight(lm):
    p = lm.named_params()
    if 'lm_head.weight' in p:
        return p['lm_head.weight']
    return p['transformer.wte.weight'] if lm.arch == 'gpt2' else p['model.embed_tokens.weight']


def linear_paths(lm, layer):
    """Every projection path of one layer, by the HF names of its 2-d weights."""
    prefix = f'transformer.h.{layer}.' if lm.arch == 'gpt2' else f'model.layers.{layer}.'
    return [n[:-len('.weight')] for n, p in lm.named_params().items() if n.startswith(prefix) and p.dim() == 2]


@unittest.skipUnless(os.path.isdir(FIXTURES), f'no fixtures at {FIXTURES}')
class BuiltinFixtures(unittest.TestCase):
    """1, 3, 6: the built-in engine against the independent fixtures."""

    def test_logprobs_match_expected(self):
        for arch in ARCHS:
            lm = load_model(fixture(arch), engine='builtin')
            self.assertEqual(lm.engine, 'builtin')
            rows = read_json(fixture(arch, 'expected_logprobs.json'))
            for row in rows:
                lp = response_logprobs(lm, enc(row['prompt']), enc(row['response']))
                self.assertEqual(len(lp), row['tokens'])
                diff = (lp.double() - torch.tensor(row['token_logprobs'], dtype=torch.float64)).abs().max().item()
                self.assertLessEqual(diff, 1e-3, f'{arch} {row["prompt"]!r}: worst token differs by {diff}')
                total = lp.double().sum().item()
                self.assertLessEqual(abs(total - row['logprob']), 1e-4 * abs(row['logprob']), f'{arch} {row["prompt"]!r}: sum {total}')

    def test_right_padded_batch_equals_single_rows(self):
        # lm.logits is causal: right padding after a row cannot change its log-probs
        for arch in ARCHS:
            lm = load_model(fixture(arch), engine='builtin')
            rows = [enc(r['prompt'] + r['response']) for r in read_json(fixture(arch, 'expected_logprobs.json'))]
            width = max(len(r) for r in rows)
            ids = torch.tensor([r + [EOS] * (width - len(r)) for r in rows])
            with torch.no_grad():
                batch = token_logprobs(lm.logits(ids[:, :-1]), ids[:, 1:])
            for i, r in enumerate(rows):
                with torch.no_grad():
                    one = token_logprobs(lm.logits(torch.tensor([r[:-1]])), torch.tensor([r[1:]]))[0]
                torch.testing.assert_close(batch[i, :len(r) - 1], one, atol=1e-5, rtol=1e-5)

    def test_hidden_feeds_the_head(self):
        for arch in ARCHS:
            lm = load_model(fixture(arch), engine='builtin')
            ids = torch.tensor([enc('Human: hi'), enc('abcdefgh!')])
            with torch.no_grad():
                h, logits = lm.hidden(ids), lm.logits(ids)
            self.assertEqual(tuple(h.shape), (2, ids.shape[1], lm.config.get('n_embd', lm.config.get('hidden_size'))))
            torch.testing.assert_close(logits, h @ head_weight(lm).t(), atol=1e-5, rtol=1e-5)

    def test_named_params_are_the_safetensors_names(self):
        for arch in ARCHS:
            lm = load_model(fixture(arch), engine='builtin')
            keys = safetensors_keys(os.path.join(fixture(arch), 'model.safetensors'))
            if lm.config.get('tie_word_embeddings', arch == 'gpt2'):
                keys.discard('lm_head.weight')
            self.assertEqual(set(lm.named_params()), keys, arch)
            self.assertTrue(all(p.requires_grad for p in lm.named_params().values()))

    def test_token_logprobs_upcasts(self):
        logits = torch.randn(2, 3, 7).to(torch.bfloat16)
        targets = torch.randint(0, 7, (2, 3))
        lp = token_logprobs(logits, targets)
        self.assertEqual(lp.dtype, torch.float32)
        want = logits.float().log_softmax(-1).gather(-1, targets[..., None])[..., 0]
        torch.testing.assert_close(lp, want)

    def test_bf16_weights(self):
        # the Llama fixture is stored as BF16: those weights are exact in float32 and in bfloat16
        lm32 = load_model(fixture('llama'), engine='builtin')
        lm16 = load_model(fixture('llama'), engine='builtin', dtype=torch.bfloat16)
        self.assertEqual(next(lm16.module.parameters()).dtype, torch.bfloat16)
        for name, p in lm32.named_params().items():
            self.assertTrue(torch.equal(p.to(torch.bfloat16), lm16.named_params()[name]), name)
        ids = torch.tensor([enc('Human: Bake bread?')])
        with torch.no_grad():
            torch.testing.assert_close(lm16.logits(ids).float(), lm32.logits(ids), atol=0.3, rtol=0.05)


def write_safetensors(path, tensors):
    """A minimal safetensors writer: F32, F16 or BF16 by each tensor's dtype."""
    kinds = {torch.float32: 'F32', torch.float16: 'F16', torch.bfloat16: 'BF16'}
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        raw = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).contiguous().numpy().tobytes()
        header[name] = {'dtype': kinds[t.dtype], 'shape': list(t.shape), 'data_offsets': [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    head = json.dumps(header).encode()
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(head)) + head + b''.join(blobs))


class SafetensorsFolders(unittest.TestCase):
    """The hand-written reader on folders written here: shards, F16 / BF16 / F32, Mistral's sliding window."""

    CONFIG = {'model_type': 'mistral', 'vocab_size': 40, 'hidden_size': 16, 'intermediate_size': 24, 'num_hidden_layers': 2,
              'num_attention_heads': 4, 'num_key_value_heads': 1, 'max_position_embeddings': 64, 'sliding_window': 12,
              'rms_norm_eps': 1e-5, 'rope_theta': 500.0, 'tie_word_embeddings': False,
              'rope_scaling': {'rope_type': 'llama3', 'factor': 8.0, 'low_freq_factor': 1.0, 'high_freq_factor': 4.0,
                               'original_max_position_embeddings': 16}}

    def test_sharded_mixed_dtypes_and_window(self):
        torch.manual_seed(0)
        weights = {n: torch.randn(p.shape) for n, p in build_builtin(self.CONFIG).named_parameters()}
        names = sorted(weights)
        stored = {n: weights[n].to((torch.float32, torch.float16, torch.bfloat16)[i % 3]) for i, n in enumerate(names)}
        tmp = tempfile.mkdtemp()
        try:
            with open(os.path.join(tmp, 'config.json'), 'w') as f:
                json.dump(self.CONFIG, f)
            shards = {'model-00001-of-00002.safetensors': names[:7], 'model-00002-of-00002.safetensors': names[7:]}
            for shard, part in shards.items():
                write_safetensors(os.path.join(tmp, shard), {n: stored[n] for n in part})
            with open(os.path.join(tmp, 'model.safetensors.index.json'), 'w') as f:
                json.dump({'metadata': {}, 'weight_map': {n: s for s, part in shards.items() for n in part}}, f)
            lm = load_model(tmp, engine='builtin')
            self.assertEqual(set(lm.named_params()), set(names))
            for n in names:
                self.assertTrue(torch.equal(lm.named_params()[n], stored[n].float()), n)
            with torch.no_grad():
                self.assertEqual(tuple(lm.logits(torch.zeros(2, 12, dtype=torch.long)).shape), (2, 12, 40))
                with self.assertRaises(ValueError) as e:
                    lm.logits(torch.zeros(1, 13, dtype=torch.long))
            self.assertIn('sliding_window', str(e.exception))
        finally:
            shutil.rmtree(tmp)

    def test_config_errors_name_file_and_key(self):
        tmp = tempfile.mkdtemp()
        try:
            cases = [({'model_type': 'bert'}, 'model_type'),
                     (dict(read_json(os.path.join(fixture('gpt2'), 'config.json')), activation_function='tanh'), 'activation_function'),
                     (dict(read_json(os.path.join(fixture('llama'), 'config.json')), rope_scaling={'rope_type': 'dynamic', 'factor': 2.0}),
                      'rope_scaling.rope_type'),
                     (dict(read_json(os.path.join(fixture('llama'), 'config.json')), num_key_value_heads=3), 'num_key_value_heads')]
            for config, key in cases:
                with open(os.path.join(tmp, 'config.json'), 'w') as f:
                    json.dump(config, f)
                with self.assertRaises(ValueError) as e:
                    load_model(tmp, engine='builtin')
                self.assertIn(os.path.join(tmp, 'config.json'), str(e.exception))
                self.assertIn(key, str(e.exception))
        finally:
            shutil.rmtree(tmp)


def check_greedy(test, lm):
    """expected.json's greedy continuations, one prompt at a time and all in one left-padded batch."""
    rows = read_json(fixture(lm.arch, 'expected.json'))
    prompts = [enc(r['prompt']) for r in rows]
    test.assertGreater(len({len(p) for p in prompts}), 1, 'the batch should mix prompt lengths')
    for batch_size in (1, len(prompts)):
        got = generate(lm, prompts, max_new_tokens=rows[0]['max_new_tokens'], temperature=0, top_p=1.0, seed=0,
                       eos_ids=[EOS], batch_size=batch_size)
        texts = [bytes(g).decode('utf-8', errors='replace') for g in got]
        test.assertEqual(texts, [r['text'] for r in rows], f'{lm.arch} batch {batch_size}')


@unittest.skipUnless(os.path.isdir(FIXTURES), f'no fixtures at {FIXTURES}')
class Generation(unittest.TestCase):
    """2: greedy continuations at batch 1 and in one left-padded batch; EOS and sampling."""

    def test_greedy_matches_expected(self):
        for arch in ARCHS:
            check_greedy(self, load_model(fixture(arch), engine='builtin'))

    def test_eos_ends_a_row_and_is_kept(self):
        # an ordinary byte as EOS makes rows end at different steps: finished rows leave the batch (the cache is
        # compacted) and the others must go on exactly as they would alone
        for arch in ARCHS:
            lm = load_model(fixture(arch), engine='builtin')
            rows = read_json(fixture(arch, 'expected.json'))
            prompts = [enc(r['prompt']) for r in rows]
            # the byte found early (before the last step) in the most rows
            firsts = [set(enc(r['text'])[:-1]) for r in rows]
            eos = [max(sorted(set().union(*firsts)), key=lambda t: sum(t in f for f in firsts))]
            batched = generate(lm, prompts, max_new_tokens=12, temperature=0, top_p=1.0, seed=0, eos_ids=eos)
            single = [generate(lm, [p], max_new_tokens=12, temperature=0, top_p=1.0, seed=0, eos_ids=eos)[0] for p in prompts]
            self.assertEqual(batched, single, arch)
            for out, r in zip(batched, rows):
                text = enc(r['text'])
                cut = text.index(eos[0]) + 1 if eos[0] in text else len(text)
                self.assertEqual(out, text[:cut], arch)
            self.assertTrue(any(len(o) < 12 for o in batched), f'{arch}: no row ended at EOS')

    def test_sampling_is_seeded_and_top_p_narrows(self):
        lm = load_model(fixture('llama'), engine='builtin')
        prompts = [enc(r['prompt']) for r in read_json(fixture('llama', 'expected.json'))]
        kw = dict(max_new_tokens=8, temperature=1.0, top_p=0.95, eos_ids=[EOS], batch_size=2)
        a, b = generate(lm, prompts, seed=7, **kw), generate(lm, prompts, seed=7, **kw)
        self.assertEqual(a, b)
        self.assertNotEqual(a, generate(lm, prompts, seed=8, **kw))
        greedy = generate(lm, prompts, max_new_tokens=8, temperature=0, top_p=1.0, seed=None, eos_ids=[EOS])
        self.assertNotEqual(a, greedy)
        kw.update(top_p=1e-6)  # only the most likely token survives the nucleus
        self.assertEqual(generate(lm, prompts, seed=3, **kw), greedy)


LORA_R, LORA_ALPHA = 4, 8.0


def lora_init(lm, paths, zero_b, seed=0):
    """Random A [r, in] and B [out, r] (B = 0 when zero_b) for each module path."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for path in paths:
        w = lm.named_params()[path + '.weight']
        n_in, n_out = (w.shape[0], w.shape[1]) if lm.arch == 'gpt2' else (w.shape[1], w.shape[0])
        out[path + '.lora_A.weight'] = torch.randn(LORA_R, n_in, generator=g) * 0.2
        out[path + '.lora_B.weight'] = torch.zeros(n_out, LORA_R) if zero_b else torch.randn(n_out, LORA_R, generator=g) * 0.2
    return out


@unittest.skipUnless(os.path.isdir(FIXTURES), f'no fixtures at {FIXTURES}')
class Lora(unittest.TestCase):
    """4: adapters y = W x + b + (alpha / r) B A x against the weights they stand for."""

    def test_zero_b_is_the_base(self):
        ids = torch.tensor([enc('Human: Bake bread?')])
        for arch in ARCHS:
            lm = load_model(fixture(arch), engine='builtin')
            with torch.no_grad():
                base = lm.logits(ids)
            paths = linear_paths(lm, 0) + linear_paths(lm, 1)
            add_lora(lm, paths, LORA_R, LORA_ALPHA, 0.0, lora_init(lm, paths, zero_b=True))
            with torch.no_grad():
                self.assertTrue(torch.equal(lm.logits(ids), base), arch)

    def test_adapters_equal_the_merged_weight_and_train_alone(self):
        ids = torch.tensor([enc('Human: Name a color.'), enc('Assistant: Blue, red')])
        for arch in ARCHS:
            lm = load_model(fixture(arch), engine='builtin')
            ref = load_model(fixture(arch), engine='builtin')
            paths = linear_paths(lm, 0) + linear_paths(lm, 1)[:2]
            init = lora_init(lm, paths, zero_b=False)
            params = add_lora(lm, paths, LORA_R, LORA_ALPHA, 0.0, init)
            self.assertEqual(set(params), {f'{p}.lora_{x}.weight' for p in paths for x in 'AB'}, arch)
            # the explicit W' = W + (alpha / r) B A, transposed for GPT-2's Conv1D [in, out]
            with torch.no_grad():
                for path in paths:
                    delta = (LORA_ALPHA / LORA_R) * init[path + '.lora_B.weight'] @ init[path + '.lora_A.weight']
                    ref.named_params()[path + '.weight'].add_(delta.t() if arch == 'gpt2' else delta)
                want = ref.logits(ids)
            torch.testing.assert_close(lm.logits(ids).detach(), want, atol=1e-4, rtol=1e-4)
            merged = merged_weights(lm)
            self.assertEqual(set(merged), set(ref.named_params()))
            for name, w in ref.named_params().items():
                torch.testing.assert_close(merged[name], w.detach(), atol=1e-6, rtol=1e-6)
            # only the adapters require and receive gradients
            lm.logits(ids).logsumexp(-1).sum().backward()
            for name, p in lm.named_params().items():
                self.assertFalse(p.requires_grad, name)
                self.assertIsNone(p.grad, name)
            for name, p in params.items():
                self.assertTrue(p.requires_grad, name)
                self.assertIsNotNone(p.grad, name)
                self.assertGreater(p.grad.abs().sum().item(), 0, name)
            trainable = {id(p) for p in lm.module.parameters() if p.requires_grad}
            self.assertEqual(trainable, {id(p) for p in params.values()}, arch)

    def test_dropout_only_in_training_mode(self):
        lm = load_model(fixture('gpt2'), engine='builtin')
        paths = linear_paths(lm, 0)
        add_lora(lm, paths, LORA_R, LORA_ALPHA, 0.5, lora_init(lm, paths, zero_b=False))
        ids = torch.tensor([enc('dropout')])
        with torch.no_grad():
            lm.module.eval()
            a, b = lm.logits(ids), lm.logits(ids)
            lm.module.train()
            torch.manual_seed(0)
            c = lm.logits(ids)
        self.assertTrue(torch.equal(a, b))
        self.assertFalse(torch.allclose(a, c))


GOLDEN = os.path.join(REPO, 'test', 'golden')


def coef_for(variant, reward, advantage):
    """losses.ts coefFor: 1, R or A+ (and rwr R, awr A)."""
    if variant in ('nll', 'dpo'):
        return 1.0
    if variant in ('wnll', 'r_gold', 'r_lol', 'rwr'):
        return reward
    if variant == 'awr':
        return advantage
    return max(advantage, 0.0)


def rel_err(got, want):
    """test/unit/losses.test.ts's measure: relative, with a denominator floor of 1e-3."""
    return abs(got - want) / max(abs(want), 1e-3)


class Losses(unittest.TestCase):
    """5: every variant against the golden values the TypeScript loss graphs are tested with."""

    def check(self, what, loss, mw, cf, grad, want):
        for name, got, w in (('loss', loss.item(), want['loss']), ('mean_weight', mw.item(), want['mean_weight']),
                             ('clip_fraction', cf.item(), want['clip_fraction'])):
            self.assertLessEqual(rel_err(got, w), 1e-5, f'{what} {name}: {got} vs golden {w}')
        for got, w in zip(grad.flatten().tolist(), torch.tensor(want['grad'], dtype=torch.float64).flatten().tolist()):
            self.assertLessEqual(rel_err(got, w), 1e-5, f'{what} d loss / d token_logp: {got} vs golden {w}')

    def test_alol_variants_match_golden(self):
        golden = read_json(os.path.join(GOLDEN, 'alol-losses.json'))
        seen = set()
        for case in golden['cases']:
            inp = {k: torch.tensor(v, dtype=torch.float64) for k, v in case['inputs'].items()}
            for variant, want in case['expected'].items():
                seen.add(variant)
                coef = torch.tensor([coef_for(variant, r, a) for r, a in zip(case['inputs']['reward'], case['inputs']['advantage'])],
                                    dtype=torch.float64)
                token_logp = inp['token_logp'].clone().requires_grad_(True)
                # as losses.test.ts: the policy's no-grad log-probs are the same numbers
                loss, mw, cf = variant_loss(variant, case['settings'], token_logp, inp['mask'], inp['ref_token_logp'], coef,
                                            policy_token_logp=inp['token_logp'])
                (grad,) = torch.autograd.grad(loss, token_logp)
                self.check(f'{case["name"]}/{variant}', loss, mw, cf, grad, want)
        self.assertEqual(seen, {'nll', 'wnll', 'r_gold', 'r_lol', 'a_lol', 'a_lol_ref_free', 'a_lol_seq', 'a_lol_kl', 'dpo'})

    def test_weighted_variants_need_policy_logprobs(self):
        x = torch.zeros(2, 3, dtype=torch.float64)
        for variant in ('r_lol', 'a_lol', 'a_lol_seq'):
            with self.assertRaises(ValueError):
                variant_loss(variant, {'clipEps': 0.2, 'klBeta': 0.1, 'dpoBeta': 0.1}, x, x + 1, x, torch.ones(2, dtype=torch.float64))

    def test_baselines_match_golden(self):
        # The per-row factors and extra inputs that alol/baseline-data.ts derives, rebuilt here from
        # scripts/golden_baselines.py's definitions (median threshold, best of prompt, quantiles, rankings).
        golden = read_json(os.path.join(GOLDEN, 'baseline-losses.json'))
        seen = set()
        for case in golden['cases']:
            for run in case['runs']:
                inp = dict(case['inputs'], **run['overrides'])
                coef, extra = baseline_inputs(run['variant'], run['settings'], inp)
                f64 = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
                token_logp = f64(inp['token_logp']).requires_grad_(True)
                settings = {'clipEps': 0.2, 'klBeta': 0.1, 'dpoBeta': 0.1, 'baseline': run['settings']}
                loss, mw, cf = variant_loss(run['variant'], settings, token_logp, f64(inp['mask']), f64(inp['ref_token_logp']),
                                            f64(coef), extra={k: f64(v) for k, v in extra.items()})
                (grad,) = torch.autograd.grad(loss, token_logp)
                self.check(f'{case["name"]}/{run["variant"]} ({run["label"]})', loss, mw, cf, grad, run)
                seen.add(run['variant'])
        self.assertEqual(seen, {'filtered_bc', 'rwr', 'awr', 'kto', 'qrpo', 'pro'})


def _median(xs):
    s = sorted(xs)
    m = len(s) // 2
    return s[m] if len(s) % 2 else (s[m - 1] + s[m]) / 2


def _ranked_groups(prompt, reward):
    """Each prompt's rows ordered by reward high to low (ties: dataset order); prompt -1 is a padding row."""
    groups = {}
    for i, p in enumerate(prompt):
        if p >= 0:
            groups.setdefault(p, []).append(i)
    return [sorted(rows, key=lambda i: (-reward[i], i)) for rows in groups.values()]


def baseline_inputs(variant, s, inp):
    """(coef [B], extra) of a baseline for a golden case's inputs."""
    R, b = inp['reward'], len(inp['reward'])
    if variant in ('rwr', 'awr'):
        return (R if variant == 'rwr' else inp['advantage']), {}
    if variant in ('filtered_bc', 'kto') and s.get('filter', 'threshold') == 'threshold':
        t = _median(R) if s['threshold'] is None else s['threshold']
        coef = [1.0 if r >= t else 0.0 for r in R]
        return coef, ({'kl_logp': inp['kl_logp'], 'kl_ref_logp': inp['kl_ref_logp']} if variant == 'kto' else {})
    if variant == 'filtered_bc':  # best_of_prompt
        coef = [0.0] * b
        for order in _ranked_groups(inp['prompt'], R):
            coef[order[0]] = 1.0
        return coef, {}
    if variant == 'qrpo':
        return [sum(1 for x in refs if x <= R[i]) / len(refs) for i, refs in enumerate(inp['ref_rewards'])], {}
    coef, after, temp = [0.0] * b, [[0.0] * b for _ in range(b)], [[0.0] * b for _ in range(b)]
    for order in _ranked_groups(inp['prompt'], R):
        coef[order[0]] = 1.0
        for n, k in enumerate(order):
            for i in order[n + 1:]:
                after[k][i], temp[k][i] = 1.0, R[k] - R[i]
    return coef, {'pro_after': after, 'pro_temp': temp}


@unittest.skipUnless(HAVE_TRANSFORMERS, 'transformers is not importable (the GPU machine runs these)')
@unittest.skipUnless(os.path.isdir(FIXTURES), f'no fixtures at {FIXTURES}')
class TransformersEngine(unittest.TestCase):
    """7: transformers' models against the built-in ones (same names, logits, hidden, greedy, LoRA)."""

    def test_logits_hidden_and_names_equal_builtin(self):
        for arch in ARCHS:
            hf, ours = load_model(fixture(arch), engine='transformers'), load_model(fixture(arch), engine='builtin')
            self.assertEqual(hf.engine, 'transformers')
            self.assertEqual(hf.arch, arch)
            self.assertEqual(set(hf.named_params()), set(ours.named_params()), arch)
            ids = torch.tensor([enc('Human: Bake bread?'), enc('Human: a colour?!!')])
            with torch.no_grad():
                torch.testing.assert_close(hf.logits(ids), ours.logits(ids), atol=1e-4, rtol=1e-4)
                h = hf.hidden(ids)
                torch.testing.assert_close(h, ours.hidden(ids), atol=1e-4, rtol=1e-4)
                torch.testing.assert_close(hf.logits(ids), h @ head_weight(hf).t(), atol=1e-4, rtol=1e-4)
            for row in read_json(fixture(arch, 'expected_logprobs.json')):
                lp = response_logprobs(hf, enc(row['prompt']), enc(row['response']))
                self.assertLessEqual((lp.double() - torch.tensor(row['token_logprobs'], dtype=torch.float64)).abs().max().item(), 1e-3)

    def test_greedy_equals_builtin(self):
        for arch in ARCHS:
            check_greedy(self, load_model(fixture(arch), engine='transformers'))

    def test_lora_equals_builtin(self):
        ids = torch.tensor([enc('Human: Name a color.')])
        for arch in ARCHS:
            hf, ours = load_model(fixture(arch), engine='transformers'), load_model(fixture(arch), engine='builtin')
            paths = linear_paths(ours, 0)
            init = lora_init(ours, paths, zero_b=False)
            a = add_lora(hf, paths, LORA_R, LORA_ALPHA, 0.0, init)
            b = add_lora(ours, paths, LORA_R, LORA_ALPHA, 0.0, init)
            self.assertEqual(set(a), set(b))
            self.assertEqual(hf.peft is not None, HAVE_PEFT)
            merged_hf, merged_ours = merged_weights(hf), merged_weights(ours)
            for name, w in merged_ours.items():
                torch.testing.assert_close(merged_hf[name].float(), w.float(), atol=1e-6, rtol=1e-6)
            torch.testing.assert_close(hf.logits(ids).detach(), ours.logits(ids).detach(), atol=1e-4, rtol=1e-4)
            hf.logits(ids).sum().backward()
            self.assertTrue(all(p.grad is not None for p in a.values()))
            self.assertTrue(all(not p.requires_grad for p in hf.named_params().values()))


if __name__ == '__main__':
    unittest.main()
