"""A policy being trained in the worker: its own copy of a model (or LoRA adapters on a frozen copy), AdamW written
out as the built-in engine's (src/trainer/graph/optim.ts), and the objective of any variant over a batch split across
the ranks (each rank differentiates its rows; DDP sums the gradients).
"""
import torch

from . import tensors
from .common import CommandError, NullContext, need, tensor_of


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
        self.shares_base = False  # set by the worker: LoRA on the model the worker holds for others too
        self.objective = need(cmd, 'objective')
        self.rows = int(need(cmd, 'rows'))
        if worker.ctx.world > self.rows:
            raise CommandError(f'trainer/create: {self.rows} rows per batch cannot be split over {worker.ctx.world} processes')
        lora = cmd.get('lora')
        self.lora = lora
        if lora:
            init = tensors.read(need(lora, 'file'))
            params = lora_mod.add_lora(lm, lora['modules'], lora['r'], lora['alpha'], lora['dropout'], init)
        else:
            params = {n: p for n, p in lm.named_params().items()}
            for p in params.values():
                p.requires_grad_(True)
        self.params = params
        self.adam = Adam(params, cmd.get('decay', []), need(cmd, 'adamw'))
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
        get = lambda name: tensor_of(batch, name, file).to(dev)  # noqa: E731
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
                # the importance weights' policy log-probs: torch computes the same numbers with or without autograd,
                # so the training forward's serve (the built-in engine needs a second, inference-graph pass); only
                # LoRA dropout makes that forward differ from the policy, and then a no-dropout pass is made
                dropout = self.lora and self.lora.get('dropout', 0) > 0
                policy = self._token_logp(ids, targets, grad=False) if dropout else token_logp.detach()
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
            sync = self.ddp.no_sync() if self.ddp is not None and not last else NullContext()
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
                src = tensor_of(state, key, file)
                if tuple(src.shape) != tuple(dst.shape):
                    raise CommandError(f'{file}: {key} has shape {list(src.shape)}; the trainer holds {list(dst.shape)}')
                dst.copy_(src.to(dst.dtype))
        self.adam.step = int(step)
