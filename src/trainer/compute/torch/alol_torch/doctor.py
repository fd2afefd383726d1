"""`alol doctor --backend torch` runs this with the chosen interpreter: one JSON object on stdout with the versions of
torch and the optional packages, CUDA and its devices. It imports nothing that is not installed."""
import json
import platform
import sys


def main():
    out = {'python': platform.python_version(), 'executable': sys.executable}
    try:
        import torch
        out['torch'] = torch.__version__
        out['cudaBuild'] = torch.version.cuda
        out['cuda'] = torch.cuda.is_available()
        out['devices'] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if out['cuda'] else []
        out['distributed'] = torch.distributed.is_available()
        out['gloo'] = out['distributed'] and torch.distributed.is_gloo_available()
        out['nccl'] = out['distributed'] and torch.distributed.is_nccl_available()
    except Exception as e:  # not installed, or a broken install: say which
        out['torch'] = None
        out['torchError'] = f'{type(e).__name__}: {e}'
    for name in ('transformers', 'peft', 'accelerate', 'bitsandbytes'):
        try:
            out[name] = __import__(name).__version__
        except Exception as e:
            out[name] = None
            if not isinstance(e, ImportError):
                out[name + 'Error'] = f'{type(e).__name__}: {e}'
    print(json.dumps(out))


if __name__ == '__main__':
    main()
