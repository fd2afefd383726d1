"""`torchrun` (torch.distributed.run), with one compatibility fix, for backend.launcher "torchrun".

Python 3.11 made iteration over an IntFlag skip the zero member and multi-bit members, so torch < 2.0's
`Std.from_str` returns None for "0" (torchrun's default --redirects) and torchrun fails at start with
"'NoneType' object has no attribute 'get'" — Debian 12's python3-torch 1.13 on Python 3.11 does. The fix is the one
torch 2.0 made (Std(int(v))); where `from_str` already works nothing is changed. Then torchrun runs as it always does:

  python -m alol_torch.launch --standalone --nproc_per_node 2 -m alol_torch.worker ...
"""
import re

from torch.distributed.elastic.multiprocessing import api


def _from_str(cls, vm):
    if re.match(api._VALUE_REGEX, vm):
        return cls(int(vm))
    if re.match(api._MAPPING_REGEX, vm):
        return {int(i): cls(int(v)) for i, v in (m.split(':') for m in vm.split(','))}
    raise ValueError(f'{vm} does not match: <{api._VALUE_REGEX}> or <{api._MAPPING_REGEX}>')


if api.Std.from_str('0') is None:
    api.Std.from_str = classmethod(_from_str)

if __name__ == '__main__':
    from torch.distributed.run import main
    main()
