"""What the worker's modules share: the error of a refused command, and small helpers."""


class CommandError(Exception):
    """A command the worker refuses (bad arguments, unknown handle): reported, the worker goes on."""


def need(cmd, key):
    if key not in cmd:
        raise CommandError(f'{cmd.get("cmd")}: the command lacks "{key}"')
    return cmd[key]


def tensor_of(batch, name, file):
    if name not in batch:
        raise CommandError(f'{file}: the batch lacks tensor "{name}"')
    return batch[name]


class NullContext:
    """A context manager that does nothing (no DDP no_sync, no autocast)."""

    def __enter__(self):
        return None

    def __exit__(self, *a):
        return False
