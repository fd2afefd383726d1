"""Tensors exchanged with the pipeline as safetensors files (the format's whole spec: an 8-byte little-endian
header length, a JSON header {name: {dtype, shape, data_offsets}}, then the raw little-endian bytes). Written by
hand so the worker needs nothing beyond torch; files are written to a temporary name and renamed, so the other
side never reads a partial file."""
import json
import os
import struct

import torch

_DTYPES = {
    'F64': torch.float64,
    'F32': torch.float32,
    'F16': torch.float16,
    'BF16': torch.bfloat16,
    'I64': torch.int64,
    'I32': torch.int32,
    'U8': torch.uint8,
}
_NAMES = {v: k for k, v in _DTYPES.items()}


def read(path):
    """{name: tensor} of a safetensors file (CPU tensors that own their memory)."""
    with open(path, 'rb') as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f'{path}: not a safetensors file (shorter than its header length)')
    (n,) = struct.unpack('<Q', raw[:8])
    try:
        header = json.loads(raw[8:8 + n])
    except ValueError as e:
        raise ValueError(f'{path}: the safetensors header is not JSON ({e})') from None
    base = 8 + n
    out = {}
    for name, e in header.items():
        if name == '__metadata__':
            continue
        dtype = _DTYPES.get(e.get('dtype'))
        if dtype is None:
            raise ValueError(f'{path}: tensor {name}: dtype {e.get("dtype")} is not supported')
        start, end = e['data_offsets']
        buf = bytearray(raw[base + start:base + end])
        t = torch.frombuffer(buf, dtype=dtype) if len(buf) else torch.empty(0, dtype=dtype)
        out[name] = t.reshape(e['shape'])
    return out


def write(path, tensors):
    """Writes {name: tensor} (any device; stored contiguous, little-endian) atomically."""
    header, chunks, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().to('cpu').contiguous()
        if t.dtype not in _NAMES:
            raise ValueError(f'{path}: tensor {name}: dtype {t.dtype} cannot be written')
        # bfloat16 has no numpy view; its bytes are those of the int16 reinterpretation
        data = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().tobytes()
        header[name] = {'dtype': _NAMES[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * (-len(h) % 8)  # the data starts 8-byte aligned, as the format recommends
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for c in chunks:
            f.write(c)
    os.replace(tmp, path)
