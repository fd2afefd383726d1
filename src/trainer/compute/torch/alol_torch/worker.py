"""The PyTorch worker: the A-LoL pipeline's model compute (log-probs, prompt hidden states, training steps of every
variant, generation, weights and optimizer state) on torch, behind the same seam as the built-in ONNX Runtime
engine (src/trainer/compute/backend.ts; the Node client is src/trainer/compute/torch/backend.ts).

Protocol: one JSON object a line. Commands on stdin {"id": n, "cmd": "...", ...}; replies on stdout
{"id": n, "ok": true, ...} or {"id": n, "ok": false, "error": {"message", "kind", "traceback"}}; logs on stderr.
Tensors travel as safetensors files the client names (`file` in, `out` out), in the run folder's torch/ folder.
The first line the worker writes is {"ready": ...} (versions, device, world size).

Under `torchrun` / `accelerate launch` every rank runs this loop: rank 0 reads the commands and broadcasts them,
every rank executes them on its share of each batch (training: DDP sums the gradients; inference: rank 0 gathers the
rows), and rank 0 replies. Only rank 0 writes to the protocol stream: stray prints of any library go to stderr.

  python -m alol_torch.worker [--device auto|cpu|cuda] [--precision float32|bfloat16|float16]
                              [--quantization none|nf4] [--engine auto|transformers|builtin] [--threads N]
"""
import argparse
import json
import os
import platform
import sys
import time
import traceback

import torch

from . import PROTOCOL_VERSION, tensors
from . import dist as distributed
from .common import CommandError, NullContext, need, tensor_of
from .quant import check_nf4, load_nf4
from .trainer import Trainer


def _versions():
    out = {'python': platform.python_version(), 'torch': torch.__version__, 'cuda': torch.version.cuda}
    for name in ('transformers', 'peft', 'accelerate', 'bitsandbytes'):
        try:
            out[name] = __import__(name).__version__
        except Exception:  # not installed, or broken: either way not usable
            out[name] = None
    return out


class Worker:
    def __init__(self, ctx, args):
        self.ctx = ctx
        self.args = args
        self.dtype = {'float32': torch.float32, 'bfloat16': torch.bfloat16, 'float16': torch.float16}[args.precision]
        if self.dtype == torch.float16 and ctx.device.type != 'cuda':
            raise RuntimeError('precision float16 needs a CUDA device; use float32 or bfloat16 on CPU')
        self.quantization = args.quantization
        if self.quantization == 'nf4':
            check_nf4(ctx.device)
        self.folders = {}  # model handle -> folder (loaded on first use, on each rank that needs it)
        self.models = {}
        self.trainers = {}

    def autocast(self):
        """Mixed precision (weights and AdamW stay float32): autocast to bf16/fp16 when asked, else nothing."""
        if self.dtype == torch.float32:
            return NullContext()
        return torch.autocast(device_type=self.ctx.device.type, dtype=self.dtype)

    def load(self, folder):
        """A model folder as this worker computes with it: as stored, or quantized to 4 bits (QLoRA) — then every
        model is, the reference included, so the policy at step 0 (adapters at zero) is the reference exactly."""
        from .models import load_model
        if self.quantization == 'nf4':
            return load_nf4(folder, self.ctx.device)
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

    def use(self, handle):
        """The model of a handle, to compute with inside `with`: a base model that a LoRA trainer shares computes with
        the adapters off (it is the reference), a trainer's with them on."""
        from .lora import adapters_off
        lm = self.model(handle)
        return adapters_off(lm) if handle not in self.trainers and lm.lora else NullContext(lm)

    def trainer(self, handle):
        if handle not in self.trainers:
            raise CommandError(f'unknown trainer "{handle}"')
        return self.trainers[handle]

    # ---- commands; each returns the reply's fields (rank 0's are sent) ----

    def c_hello(self, cmd):
        # copies of models in memory: loaded ones, and the trainers' own (a LoRA trainer may share its model's)
        copies = len(self.models) + sum(1 for t in self.trainers.values() if not t.shares_base)
        return {'protocol': PROTOCOL_VERSION, 'versions': _versions(), 'device': str(self.ctx.device), 'world': self.ctx.world,
                'pid': os.getpid(), 'modelCopies': copies}

    def c_model_load(self, cmd):
        folder = need(cmd, 'dir')
        if not os.path.isfile(os.path.join(folder, 'config.json')):
            raise CommandError(f'{folder}: no config.json (not a model folder)')
        self.folders[need(cmd, 'model')] = folder
        if self.ctx.rank != 0:
            return {}  # the other ranks load it when they first compute with it
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
        file = need(cmd, 'file')
        batch = tensors.read(file)
        dev = self.ctx.device
        start, end, sizes = self.ctx.shard(batch['ids'].shape[0] if 'ids' in batch else 0)
        ids, targets = tensor_of(batch, 'ids', file)[start:end].to(dev), tensor_of(batch, 'targets', file)[start:end].to(dev)
        mask = tensor_of(batch, 'mask', file)[start:end].to(dev).float()
        with self.use(need(cmd, 'model')) as lm, self.autocast():
            tok = (token_logprobs(lm.logits(ids), targets) * mask).float()
        tok = self.ctx.gather_rows(tok, sizes)
        if self.ctx.rank == 0:
            tensors.write(need(cmd, 'out'), {'token_logprob': tok, 'seq_logprob': tok.sum(1)})
        return {}

    @torch.no_grad()
    def c_hidden(self, cmd):
        file = need(cmd, 'file')
        ids = tensor_of(tensors.read(file), 'ids', file)
        start, end, sizes = self.ctx.shard(ids.shape[0])
        with self.use(need(cmd, 'model')) as lm, self.autocast():
            hidden = lm.hidden(ids[start:end].to(self.ctx.device)).float()
        hidden = self.ctx.gather_rows(hidden, sizes)
        if self.ctx.rank == 0:
            tensors.write(need(cmd, 'out'), {'hidden': hidden})
        return {}

    def c_generate(self, cmd):
        from .generate import generate
        prompts = need(cmd, 'prompts')
        start, end, _ = self.ctx.shard(len(prompts))
        model = need(cmd, 'model')
        # a rank's rows draw from their own seeded generator: sampled texts depend on the number of processes
        seed = cmd.get('seed')
        seed = None if seed is None else int(seed) if not self.ctx.distributed else int(seed) * 1009 + self.ctx.rank
        mine = []
        if end > start:
            with self.use(model) as lm, self.autocast():
                mine = generate(lm, prompts[start:end], max_new_tokens=int(need(cmd, 'maxNewTokens')),
                                temperature=float(cmd.get('temperature', 0)), top_p=float(cmd.get('topP', 1)), seed=seed,
                                eos_ids=list(cmd.get('eosIds', [])), batch_size=int(cmd.get('batchSize', 16)))
        parts = self.ctx.gather_objects(mine)
        return {'tokens': [t for part in parts for t in part]} if self.ctx.rank == 0 else {}

    def c_trainer_create(self, cmd):
        handle = need(cmd, 'trainer')
        model = need(cmd, 'model')
        if model not in self.folders:
            raise CommandError(f'trainer/create: unknown model "{model}"')
        if self.quantization == 'nf4' and not cmd.get('lora'):
            raise CommandError('trainer/create: a 4-bit (nf4) model trains LoRA adapters only: set train.lora (and reference.sft.lora)')
        # LoRA: the adapters go on the model itself (loaded once, frozen; it computes as the reference with them off),
        # unless another trainer's adapters are on it. Full training: the trainer's own copy, whose weights change.
        shared = bool(cmd.get('lora')) and not self.model(model).lora
        lm = self.model(model) if shared else self.load(self.folders[model])
        lm.module.eval()  # no dropout in the policy (see Trainer._dropout)
        for p in lm.module.parameters():
            p.requires_grad_(False)
        self.trainers[handle] = Trainer(self, lm, cmd)
        self.trainers[handle].shares_base = shared
        return {'engine': lm.engine, 'params': sum(p.numel() for p in self.trainers[handle].params.values()), 'sharesBase': shared}

    def c_trainer_update(self, cmd):
        t = self.trainer(need(cmd, 'trainer'))
        return t.update(need(cmd, 'files'), float(need(cmd, 'lr')))

    def c_trainer_grad(self, cmd):
        """The batch's gradient without an update (diagnostics and the distributed-equality test)."""
        t = self.trainer(need(cmd, 'trainer'))
        grads, stats = t.gradients(need(cmd, 'files'))
        if self.ctx.rank == 0:
            tensors.write(need(cmd, 'out'), {n: g.float() for n, g in grads.items()})
        for p in t.params.values():
            p.grad = None
        return stats

    def c_trainer_weights(self, cmd):
        t = self.trainer(need(cmd, 'trainer'))
        if self.ctx.rank == 0:
            tensors.write(need(cmd, 'out'), {n: w.float() for n, w in t.weights().items()})
        return {'step': t.step}

    def c_trainer_state(self, cmd):
        t = self.trainer(need(cmd, 'trainer'))
        if self.ctx.rank == 0:
            tensors.write(need(cmd, 'out'), {n: w.float() for n, w in t.state().items()})
        return {'step': t.step}

    def c_trainer_load_state(self, cmd):
        t = self.trainer(need(cmd, 'trainer'))
        file = need(cmd, 'file')
        t.load_state(tensors.read(file), need(cmd, 'step'), file)
        return {'step': t.step}

    def c_trainer_dispose(self, cmd):
        from .lora import remove_lora
        t = self.trainers.pop(cmd.get('trainer'), None)
        if t is not None and t.shares_base:
            remove_lora(t.lm)  # the shared model is the reference again
        if self.ctx.device.type == 'cuda':
            torch.cuda.empty_cache()
        return {}

    def c_loss_eval(self, cmd):
        """A variant's loss over given per-token log-probs (float64) and its gradient: the golden-value tests."""
        from .losses import variant_loss
        if self.ctx.rank != 0:
            return {}
        file = need(cmd, 'file')
        b = {n: t.double() for n, t in tensors.read(file).items()}
        lp = tensor_of(b, 'token_logp', file).clone().requires_grad_(True)
        extra = {n[len('extra.'):]: t for n, t in b.items() if n.startswith('extra.')}
        loss, mw, cf = variant_loss(need(cmd, 'variant'), need(cmd, 'settings'), lp, tensor_of(b, 'mask', file),
                                    tensor_of(b, 'ref_token_logp', file), tensor_of(b, 'coef', file), b.get('policy_token_logp'), extra)
        (grad,) = torch.autograd.grad(loss, lp)
        tensors.write(need(cmd, 'out'), {'grad': grad})
        return {'loss': float(loss), 'meanWeight': float(mw), 'clipFraction': float(cf)}


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
