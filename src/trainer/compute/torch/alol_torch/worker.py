"""The PyTorch worker: the A-LoL pipeline's model compute (log-probs, prompt hidden states, training steps of every
variant, generation, weights and optimizer state) on torch, behind the same seam as the built-in ONNX Runtime
engine (src/trainer/compute/backend.ts; the Node client is src/trainer/compute/torch/backend.ts).

Protocol: one JSON object a line. Commands on stdin {"id": n, "cmd": "...", ...}; replies on stdout
{"id": n, "ok": true, ...} or {"id": n, "ok": false, "error": {"message", "kind", "traceback"}}; logs on stderr.
Tensors travel as safetensors files the client names (`file` in, `out` out), in the run folder's torch/ folder.
The first line the worker writes is {"ready": ...} (versions, device, world size).

Under `torchrun` / `accelerate launch` every rank runs this loop: rank 0 reads the commands and broadcasts them,
every rank executes them (training on its shard of each batch, DDP summing gradients; inference on rank 0 alone),
and rank 0 replies. Only rank 0 writes to the protocol stream: stray prints of any library go to stderr.

  python -m alol_torch.worker [--device auto|cpu|cuda] [--precision float32|bfloat16|float16] [--engine auto|...]
"""
import argparse
import copy
import json
import os
import platform
import sys
import time
import traceback

import torch

from . import PROTOCOL_VERSION, tensors
from . import dist as distributed


def _versions():
    out = {'python': platform.python_version(), 'torch': torch.__version__, 'cuda': torch.version.cuda}
    for name in ('transformers', 'peft', 'accelerate', 'bitsandbytes'):
        try:
            out[name] = __import__(name).__version__
        except Exception:  # not installed, or broken: either way not usable
            out[name] = None
    return out


class CommandError(Exception):
    """A command the worker refuses (bad arguments, unknown handle): reported, the worker goes on."""


def _need(cmd, key):
    if key not in cmd:
        raise CommandError(f'{cmd.get("cmd")}: the command lacks "{key}"')
    return cmd[key]


def _tensor(batch, name, file):
    if name not in batch:
        raise CommandError(f'{file}: the batch lacks tensor "{name}"')
    return batch[name]


class Adam:
    """AdamW with global-norm clipping, the arithmetic of src/trainer/graph/optim.ts (and torch.optim.AdamW):
    coef = min(1, clip / (norm + 1e-6)); m, v moments; p <- p (1 - lr wd) - lr mhat / (sqrt(vhat) + eps), decay only
    on the parameters the pipeline marks. Written out so its state has the pipeline's names (adam.m.P, adam.v.P)."""

    def __init__(self, params, decay, cfg):
        self.params = params  # name -> Parameter
        self.decay = set(decay)
        self.cfg = cfg
        self.m = {n: torch.zeros_like(p, dtype=torch.float32) for n, p in params.items()}
        self.v = {n: torch.zeros_like(p, dtype=torch.float32) for n, p in params.items()}
        self.step = 0

    @torch.no_grad()
    def update(self, grads, lr):
        """grads: name -> the global gradient. Returns the gradient norm before clipping."""
        c = self.cfg
        norm = torch.sqrt(sum((g.float() ** 2).sum() for g in grads.values()))
        coef = 1.0
        if c.get('gradClip'):
            coef = torch.clamp(c['gradClip'] / (norm + 1e-6), max=1.0)
        self.step += 1
        bc1 = 1 - c['beta1'] ** self.step
        bc2 = 1 - c['beta2'] ** self.step
        for n, p in self.params.items():
            g = grads[n].float() * coef
            m, v = self.m[n], self.v[n]
            m.mul_(c['beta1']).add_(g, alpha=1 - c['beta1'])
            v.mul_(c['beta2']).addcmul_(g, g, value=1 - c['beta2'])
            w = p.data.float()
            if n in self.decay and c['weightDecay'] > 0:
                w = w * (1 - lr * c['weightDecay'])
            w = w - lr * (m / bc1) / (torch.sqrt(v / bc2) + c['eps'])
            p.data.copy_(w.to(p.dtype))
        return float(norm)


class Trainer:
    """A policy being trained: its own copy of a model (or adapters on a frozen copy), AdamW state, the objective."""

    def __init__(self, worker, lm, cmd):
        from . import lora as lora_mod
        self.worker = worker
        self.lm = lm
        self.objective = _need(cmd, 'objective')
        self.rows = int(_need(cmd, 'rows'))
        if worker.ctx.world > self.rows:
            raise CommandError(f'trainer/create: {self.rows} rows per batch cannot be split over {worker.ctx.world} processes')
        lora = cmd.get('lora')
        self.lora = lora
        if lora:
            init = tensors.read(_need(lora, 'file'))
            params = lora_mod.add_lora(lm, lora['modules'], lora['r'], lora['alpha'], lora['dropout'], init)
        else:
            params = {n: p for n, p in lm.named_params().items()}
            for p in params.values():
                p.requires_grad_(True)
        self.params = params
        self.adam = Adam(params, cmd.get('decay', []), _need(cmd, 'adamw'))
        self.seed = int(lora.get('seed', 0)) if lora else 0
        self.ddp = None
        if worker.ctx.distributed:
            from torch.nn.parallel import DistributedDataParallel as DDP

            class Forward(torch.nn.Module):
                """The model's logits as a module DDP can wrap (its parameters are the model's)."""

                def __init__(self, lm):
                    super().__init__()
                    self.inner = lm.module
                    self._lm = [lm]  # not a submodule

                def forward(self, ids):
                    return self._lm[0].logits(ids)

            dev = worker.ctx.device
            self.ddp = DDP(Forward(lm), device_ids=[dev.index] if dev.type == 'cuda' else None)

    @property
    def step(self):
        return self.adam.step

    def _dropout(self, on):
        """The model stays in eval mode (the policy has no dropout, as the built-in engine's); only LoRA's dropout
        (peft's and the built-in layer's modules are both named lora_dropout) turns on for a training forward."""
        for name, m in self.lm.module.named_modules():
            if 'lora_dropout' in name:
                m.train(on)

    def _logits(self, ids, grad):
        with self.worker.autocast():
            if not grad:
                with torch.no_grad():
                    return self.lm.logits(ids)
            self._dropout(True)
            try:
                return self.ddp(ids) if self.ddp is not None else self.lm.logits(ids)
            finally:
                self._dropout(False)

    def _token_logp(self, ids, targets, grad):
        """Per-token log-probs [B, T] of the whole batch: this rank computes its shard (with gradient when asked) and
        the shards of the other ranks are gathered (without)."""
        from .models import token_logprobs
        ctx = self.worker.ctx
        start, end, sizes = ctx.shard(ids.shape[0])
        local = token_logprobs(self._logits(ids[start:end], grad), targets[start:end])
        return ctx.gather_rows(local, sizes)

    def micro_loss(self, batch, file):
        """The objective over one micro-batch: (loss scaled for DDP, loss, mean_weight, clip_fraction)."""
        from .losses import variant_loss
        dev = self.worker.ctx.device
        get = lambda name: _tensor(batch, name, file).to(dev)  # noqa: E731
        ids, targets, mask = get('ids'), get('targets'), get('mask').float()
        if ids.shape[0] != self.rows:
            raise CommandError(f'{file}: {ids.shape[0]} rows; the trainer was made for {self.rows}')
        if self.lora and self.lora.get('dropout', 0) > 0:
            # dropout masks: a function of the seed, the update, the micro-batch and the rank
            torch.manual_seed((self.seed * 1000003 + self.step * 1024 + self._micro) * 64 + self.worker.ctx.rank)
        self._micro += 1
        token_logp = self._token_logp(ids, targets, grad=True)
        obj = self.objective
        if obj['kind'] == 'nll':
            w = get('example_weight').float()
            loss = -(w * (token_logp * mask).sum(1)).sum() / ids.shape[0]
            mean_weight, clip_fraction = torch.tensor(1.0), torch.tensor(0.0)
        else:
            variant = obj['variant']
            policy = None
            if variant in ('r_lol', 'a_lol', 'a_lol_seq'):
                policy = self._token_logp(ids, targets, grad=False)
            extra = {}
            if variant == 'kto':
                kl = self._token_logp(get('kl_ids'), get('kl_targets'), grad=False)
                extra['kl_logp'] = (kl * get('kl_mask').float()).sum(1)
                extra['kl_ref_logp'] = get('kl_ref_logp').float()
            for name in batch:
                if name.startswith('extra.'):
                    extra[name[len('extra.'):]] = get(name).float()
            loss, mean_weight, clip_fraction = variant_loss(
                variant, obj['settings'], token_logp, mask, get('ref_token_logp').float(), get('coef').float(), policy, extra)
        # DDP averages the ranks' gradients; each rank's loss holds only its shard's part of the batch's loss
        scaled = loss * self.worker.ctx.world
        return scaled, float(loss), float(mean_weight), float(clip_fraction)

    def gradients(self, files):
        """The batch's gradient: the micro-batches' mean (as the built-in engine's accumulation), summed over ranks."""
        self._micro = 0
        for p in self.params.values():
            p.grad = None
        losses, weights, clips = [], [], []
        for k, file in enumerate(files):
            batch = tensors.read(file)
            last = k == len(files) - 1
            sync = self.ddp.no_sync() if self.ddp is not None and not last else _null()
            with sync:
                scaled, loss, mw, cf = self.micro_loss(batch, file)
                (scaled / len(files)).backward()
            losses.append(loss)
            weights.append(mw)
            clips.append(cf)
        grads = {n: (p.grad if p.grad is not None else torch.zeros_like(p)) for n, p in self.params.items()}
        # the importance-weight statistics of the last micro-batch, as the built-in engine reports them; nll has none
        extra = {} if self.objective['kind'] == 'nll' else {'mean_weight': weights[-1], 'clip_fraction': clips[-1]}
        stats = {'loss': sum(losses) / len(losses), 'extra': extra}
        return grads, stats

    def update(self, files, lr):
        grads, stats = self.gradients(files)
        stats['gradNorm'] = self.adam.update(grads, lr)
        for p in self.params.values():
            p.grad = None
        stats['step'] = self.step
        return stats

    def weights(self):
        return {n: p.detach() for n, p in self.params.items()}

    def state(self):
        out = dict(self.weights())
        for n in self.params:
            out[f'adam.m.{n}'] = self.adam.m[n]
            out[f'adam.v.{n}'] = self.adam.v[n]
        return out

    @torch.no_grad()
    def load_state(self, state, step, file):
        for n, p in self.params.items():
            for key, dst in ((n, p.data), (f'adam.m.{n}', self.adam.m[n]), (f'adam.v.{n}', self.adam.v[n])):
                src = _tensor(state, key, file)
                if tuple(src.shape) != tuple(dst.shape):
                    raise CommandError(f'{file}: {key} has shape {list(src.shape)}; the trainer holds {list(dst.shape)}')
                dst.copy_(src.to(dst.dtype))
        self.adam.step = int(step)


class _null:
    def __enter__(self):
        return None

    def __exit__(self, *a):
        return False


class Worker:
    def __init__(self, ctx, args):
        self.ctx = ctx
        self.args = args
        self.dtype = {'float32': torch.float32, 'bfloat16': torch.bfloat16, 'float16': torch.float16}[args.precision]
        if self.dtype == torch.float16 and ctx.device.type != 'cuda':
            raise RuntimeError('precision float16 needs a CUDA device; use float32 or bfloat16 on CPU')
        self.quantization = args.quantization
        if self.quantization == 'nf4':
            _check_nf4(ctx.device)
        self.folders = {}  # model handle -> folder (loaded on first use, on each rank that needs it)
        self.models = {}
        self.trainers = {}

    def autocast(self):
        """Mixed precision (weights and AdamW stay float32): autocast to bf16/fp16 when asked, else nothing."""
        if self.dtype == torch.float32:
            return _null()
        return torch.autocast(device_type=self.ctx.device.type, dtype=self.dtype)

    def load(self, folder):
        """A model folder as this worker computes with it: as stored, or quantized to 4 bits (QLoRA) — then every
        model is, the reference included, so the policy at step 0 (adapters at zero) is the reference exactly."""
        from .models import load_model
        if self.quantization == 'nf4':
            return _load_nf4(folder, self.ctx.device)
        return load_model(folder, device=str(self.ctx.device), engine=self.args.engine)

    def model(self, handle):
        if handle in self.trainers:
            return self.trainers[handle].lm
        if handle not in self.folders:
            raise CommandError(f'unknown model "{handle}" (load it with model/load first)')
        if handle not in self.models:
            lm = self.load(self.folders[handle])
            lm.module.eval()
            for p in lm.module.parameters():
                p.requires_grad_(False)
            self.models[handle] = lm
        return self.models[handle]

    def trainer(self, handle):
        if handle not in self.trainers:
            raise CommandError(f'unknown trainer "{handle}"')
        return self.trainers[handle]

    # ---- commands; each returns the reply's fields (rank 0's are sent) ----

    def c_hello(self, cmd):
        return {'protocol': PROTOCOL_VERSION, 'versions': _versions(), 'device': str(self.ctx.device), 'world': self.ctx.world,
                'pid': os.getpid()}

    def c_model_load(self, cmd):
        folder = _need(cmd, 'dir')
        if not os.path.isfile(os.path.join(folder, 'config.json')):
            raise CommandError(f'{folder}: no config.json (not a model folder)')
        self.folders[_need(cmd, 'model')] = folder
        if self.ctx.rank != 0:
            return {}  # the other ranks load it when a trainer needs it
        lm = self.model(cmd['model'])
        return {'engine': lm.engine, 'arch': lm.arch}

    def c_model_drop(self, cmd):
        self.folders.pop(cmd.get('model'), None)
        self.models.pop(cmd.get('model'), None)
        return {}

    # Inference is split across the ranks like training: each computes its share of the rows, rank 0 gathers them.

    @torch.no_grad()
    def c_logprobs(self, cmd):
        """Per-token [B, T] (0 off the mask) and per-row [B] log-probs of a batch under a model or a trainer."""
        from .models import token_logprobs
        file = _need(cmd, 'file')
        batch = tensors.read(file)
        lm = self.model(_need(cmd, 'model'))
        dev = self.ctx.device
        start, end, sizes = self.ctx.shard(batch['ids'].shape[0] if 'ids' in batch else 0)
        ids, targets = _tensor(batch, 'ids', file)[start:end].to(dev), _tensor(batch, 'targets', file)[start:end].to(dev)
        mask = _tensor(batch, 'mask', file)[start:end].to(dev).float()
        with self.autocast():
            tok = (token_logprobs(lm.logits(ids), targets) * mask).float()
        tok = self.ctx.gather_rows(tok, sizes)
        if self.ctx.rank == 0:
            tensors.write(_need(cmd, 'out'), {'token_logprob': tok, 'seq_logprob': tok.sum(1)})
        return {}

    @torch.no_grad()
    def c_hidden(self, cmd):
        file = _need(cmd, 'file')
        ids = _tensor(tensors.read(file), 'ids', file)
        start, end, sizes = self.ctx.shard(ids.shape[0])
        with self.autocast():
            hidden = self.model(_need(cmd, 'model')).hidden(ids[start:end].to(self.ctx.device)).float()
        hidden = self.ctx.gather_rows(hidden, sizes)
        if self.ctx.rank == 0:
            tensors.write(_need(cmd, 'out'), {'hidden': hidden})
        return {}

    def c_generate(self, cmd):
        from .generate import generate
        prompts = _need(cmd, 'prompts')
        start, end, _ = self.ctx.shard(len(prompts))
        lm = self.model(_need(cmd, 'model'))
        # a rank's rows draw from their own seeded generator: sampled texts depend on the number of processes
        seed = cmd.get('seed')
        seed = None if seed is None else int(seed) if not self.ctx.distributed else int(seed) * 1009 + self.ctx.rank
        mine = []
        if end > start:
            with self.autocast():
                mine = generate(lm, prompts[start:end], max_new_tokens=int(_need(cmd, 'maxNewTokens')),
                                temperature=float(cmd.get('temperature', 0)), top_p=float(cmd.get('topP', 1)), seed=seed,
                                eos_ids=list(cmd.get('eosIds', [])), batch_size=int(cmd.get('batchSize', 16)))
        parts = self.ctx.gather_objects(mine)
        return {'tokens': [t for part in parts for t in part]} if self.ctx.rank == 0 else {}

    def c_trainer_create(self, cmd):
        handle = _need(cmd, 'trainer')
        model = _need(cmd, 'model')
        if model not in self.folders:
            raise CommandError(f'trainer/create: unknown model "{model}"')
        if self.quantization == 'nf4' and not cmd.get('lora'):
            raise CommandError('trainer/create: a 4-bit (nf4) model trains LoRA adapters only: set train.lora (and reference.sft.lora)')
        # the trainer's own copy: its weights change; the model it starts from stays what it was
        lm = self.load(self.folders[model])
        lm.module.eval()  # no dropout in the policy (see Trainer._dropout)
        for p in lm.module.parameters():
            p.requires_grad_(False)
        self.trainers[handle] = Trainer(self, lm, cmd)
        return {'engine': lm.engine, 'params': sum(p.numel() for p in self.trainers[handle].params.values())}

    def c_trainer_update(self, cmd):
        t = self.trainer(_need(cmd, 'trainer'))
        return t.update(_need(cmd, 'files'), float(_need(cmd, 'lr')))

    def c_trainer_grad(self, cmd):
        """The batch's gradient without an update (diagnostics and the distributed-equality test)."""
        t = self.trainer(_need(cmd, 'trainer'))
        grads, stats = t.gradients(_need(cmd, 'files'))
        if self.ctx.rank == 0:
            tensors.write(_need(cmd, 'out'), {n: g.float() for n, g in grads.items()})
        for p in t.params.values():
            p.grad = None
        return stats

    def c_trainer_weights(self, cmd):
        t = self.trainer(_need(cmd, 'trainer'))
        if self.ctx.rank == 0:
            tensors.write(_need(cmd, 'out'), {n: w.float() for n, w in t.weights().items()})
        return {'step': t.step}

    def c_trainer_state(self, cmd):
        t = self.trainer(_need(cmd, 'trainer'))
        if self.ctx.rank == 0:
            tensors.write(_need(cmd, 'out'), {n: w.float() for n, w in t.state().items()})
        return {'step': t.step}

    def c_trainer_load_state(self, cmd):
        t = self.trainer(_need(cmd, 'trainer'))
        file = _need(cmd, 'file')
        t.load_state(tensors.read(file), _need(cmd, 'step'), file)
        return {'step': t.step}

    def c_trainer_dispose(self, cmd):
        self.trainers.pop(cmd.get('trainer'), None)
        if self.ctx.device.type == 'cuda':
            torch.cuda.empty_cache()
        return {}

    def c_loss_eval(self, cmd):
        """A variant's loss over given per-token log-probs (float64) and its gradient: the golden-value tests."""
        from .losses import variant_loss
        if self.ctx.rank != 0:
            return {}
        file = _need(cmd, 'file')
        b = {n: t.double() for n, t in tensors.read(file).items()}
        lp = _tensor(b, 'token_logp', file).clone().requires_grad_(True)
        extra = {n[len('extra.'):]: t for n, t in b.items() if n.startswith('extra.')}
        loss, mw, cf = variant_loss(_need(cmd, 'variant'), _need(cmd, 'settings'), lp, _tensor(b, 'mask', file),
                                    _tensor(b, 'ref_token_logp', file), _tensor(b, 'coef', file), b.get('policy_token_logp'), extra)
        (grad,) = torch.autograd.grad(loss, lp)
        tensors.write(_need(cmd, 'out'), {'grad': grad})
        return {'loss': float(loss), 'meanWeight': float(mw), 'clipFraction': float(cf)}


def _check_nf4(device):
    """backend.quantization "nf4" (QLoRA) needs transformers, bitsandbytes and a CUDA device: said at start."""
    missing = []
    for name in ('transformers', 'bitsandbytes', 'peft'):
        try:
            __import__(name)
        except Exception:
            missing.append(name)
    if missing:
        raise RuntimeError(f'backend.quantization "nf4" (4-bit QLoRA) needs transformers, peft and bitsandbytes; this interpreter '
                           f'cannot import {", ".join(missing)} (pip install {" ".join(missing)})')
    if device.type != 'cuda':
        raise RuntimeError('backend.quantization "nf4" (4-bit QLoRA) needs a CUDA device (bitsandbytes); this worker runs on the CPU')


def _load_nf4(folder, device):
    """A folder loaded by transformers with its linear layers in 4-bit NF4 (double quantization, bf16 compute)."""
    import transformers
    from .models import LM
    with open(os.path.join(folder, 'config.json'), encoding='utf-8') as f:
        config = json.load(f)
    q = transformers.BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type='nf4', bnb_4bit_use_double_quant=True,
                                        bnb_4bit_compute_dtype=torch.bfloat16)
    module = transformers.AutoModelForCausalLM.from_pretrained(folder, quantization_config=q, device_map={'': device.index or 0})
    module.eval()
    return LM('transformers', config.get('model_type'), module, config, folder, dict(module.named_parameters()))


def _reply_error(e):
    kind = 'command' if isinstance(e, CommandError) else type(e).__name__
    return {'message': str(e) or type(e).__name__, 'kind': kind, 'traceback': traceback.format_exc(limit=8)}


def main(argv=None):
    p = argparse.ArgumentParser(prog='alol_torch.worker', description=__doc__.split('\n\n')[0])
    p.add_argument('--device', default='auto', choices=['auto', 'cpu', 'cuda'])
    p.add_argument('--precision', default='float32', choices=['float32', 'bfloat16', 'float16'])
    p.add_argument('--engine', default='auto', choices=['auto', 'transformers', 'builtin'])
    p.add_argument('--quantization', default='none', choices=['none', 'nf4'], help='nf4: every model in 4 bits (QLoRA)')
    p.add_argument('--threads', type=int, default=0, help='CPU threads per process (0: torch default)')
    args = p.parse_args(argv)

    # The protocol stream is a private copy of stdout; fd 1 itself then points at stderr, so a print or a native
    # library's output anywhere in the process can never corrupt the protocol.
    proto = os.fdopen(os.dup(1), 'w', buffering=1, encoding='utf-8')
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    ctx = distributed.init(args.device)
    if ctx.rank != 0:
        proto.close()
        proto = None

    def send(msg):
        proto.write(json.dumps(msg, separators=(',', ':')) + '\n')

    try:
        worker = Worker(ctx, args)
    except Exception as e:  # a bad start: say why on the protocol stream, then stop
        if proto:
            send({'ready': False, 'error': _reply_error(e)})
        return 1
    if proto:
        send({'ready': True, **worker.c_hello({})})
    while True:
        line = None
        if ctx.rank == 0:
            line = sys.stdin.readline()
            line = line if line else '{"cmd":"shutdown","id":null}'  # EOF: the client went away
        line = ctx.broadcast(line)
        if not line.strip():
            continue
        try:
            cmd = json.loads(line)
            if not isinstance(cmd, dict) or not isinstance(cmd.get('cmd'), str):
                raise CommandError('a command is a JSON object with a string "cmd"')
        except Exception as e:
            if proto:
                send({'id': None, 'ok': False, 'error': _reply_error(CommandError(f'bad command line: {e}'))})
            continue
        name = cmd['cmd']
        if name == 'shutdown':
            if proto:
                send({'id': cmd.get('id'), 'ok': True})
            break
        handler = getattr(worker, 'c_' + name.replace('/', '_').replace('loadState', 'load_state'), None)
        reply, error = {}, None
        t0 = time.perf_counter()
        try:
            if handler is None:
                raise CommandError(f'unknown command "{name}"')
            reply = handler(cmd) or {}
            reply['ms'] = (time.perf_counter() - t0) * 1e3  # the command's time in the worker, tensor files included
        except Exception as e:
            error = _reply_error(e)
            traceback.print_exc()
        errors = ctx.all_ok(error)
        first = next((x for x in errors if x is not None), None)
        if proto:
            send({'id': cmd.get('id'), 'ok': False, 'error': first} if first else {'id': cmd.get('id'), 'ok': True, **reply})
    if ctx.distributed:
        torch.distributed.destroy_process_group()
    return 0


if __name__ == '__main__':
    sys.exit(main())
