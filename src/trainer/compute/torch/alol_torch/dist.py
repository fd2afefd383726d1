"""The process group: one process (no launcher), or one per GPU under `torchrun` / `accelerate launch` (both set
RANK, WORLD_SIZE and LOCAL_RANK). Rank 0 alone speaks to the pipeline; every rank runs every training command on
its shard of the batch, and gradients are summed across ranks by DDP."""
import datetime
import os

import torch
import torch.distributed as dist


class Context:
    def __init__(self, rank, world, device):
        self.rank = rank
        self.world = world
        self.device = device

    @property
    def distributed(self):
        return self.world > 1

    def shard(self, n):
        """This rank's rows [start, end) of a batch of n rows, as torch.tensor_split cuts them."""
        sizes = [n // self.world + (1 if r < n % self.world else 0) for r in range(self.world)]
        start = sum(sizes[:self.rank])
        return start, start + sizes[self.rank], sizes

    def gather_rows(self, local, sizes):
        """The rows of every rank's `local` [n_r, ...] concatenated in rank order (no gradient flows through the
        other ranks' parts; `local` itself is returned inside the result with its autograd history)."""
        if not self.distributed:
            return local
        m = max(sizes)
        pad = torch.zeros((m,) + tuple(local.shape[1:]), dtype=local.dtype, device=local.device)
        pad[:local.shape[0]] = local.detach()
        parts = [torch.empty_like(pad) for _ in range(self.world)]
        dist.all_gather(parts, pad)
        parts = [p[:s] for p, s in zip(parts, sizes)]
        parts[self.rank] = local
        return torch.cat(parts, 0)

    def gather_objects(self, obj):
        """Every rank's `obj`, in rank order (on every rank)."""
        if not self.distributed:
            return [obj]
        out = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def broadcast(self, obj):
        """Rank 0's object on every rank."""
        if not self.distributed:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def all_ok(self, error):
        """Every rank's error (None when it succeeded), gathered on every rank."""
        if not self.distributed:
            return [error]
        out = [None] * self.world
        dist.all_gather_object(out, error)
        return out


def init(requested_device):
    """The process group (when launched with several processes) and this rank's device."""
    world = int(os.environ.get('WORLD_SIZE', '1'))
    rank = int(os.environ.get('RANK', '0'))
    local = int(os.environ.get('LOCAL_RANK', '0'))
    cuda = torch.cuda.is_available()
    if requested_device == 'cuda' and not cuda:
        raise RuntimeError('device cuda was asked for, but torch.cuda.is_available() is False (a CPU build of torch, or no GPU)')
    use_cuda = cuda and requested_device in ('auto', 'cuda')
    device = torch.device(f'cuda:{local}' if use_cuda else 'cpu')
    if use_cuda:
        torch.cuda.set_device(device)
    if world > 1:
        # nccl between GPUs, gloo on CPU; a rank that stops answering fails the others after the timeout
        dist.init_process_group('nccl' if use_cuda else 'gloo', timeout=datetime.timedelta(minutes=30))
    return Context(rank, world, device)
