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
    """A context manager that does nothing (no DDP no_sync, no autocast); `with` gives the value it was made with."""

    def __init__(self, value=None):
        self.value = value

    def __enter__(self):
        return self.value

    def __exit__(self, *a):
        return False
