"""Causal language models for the PyTorch worker: Hugging Face transformers when it is installed, else the small
built-in GPT-2 and Llama-family modules of builtin.py, whose parameters carry the Hugging Face names of
model.safetensors so the engines (and the ONNX engine) exchange weights by name. Also the folder's safetensors,
read by hand (no safetensors package needed), and the log-probs of targets.
"""
import json
import os

import numpy as np
import torch

from .builtin import build_builtin


class LM:
    """A loaded model: `module` is the torch module (transformers' or built-in), `config` its config.json."""

    def __init__(self, engine, arch, module, config, folder, base_params):
        self.engine = engine  # 'transformers' or 'builtin'
        self.arch = arch  # config.json's model_type
        self.module = module
        self.config = config
        self.folder = folder
        self._base_params = base_params  # HF name -> Parameter, taken at load (LoRA wrapping renames modules)
        self.lora = {}  # module path -> LoraAdapter (lora.py), filled by add_lora
        self.peft = None  # the PeftModel when lora.py used peft

    def logits(self, ids):
        """[B, T] right-padded rows -> [B, T, V]: causal, positions 0..T-1, no attention mask."""
        if self.engine == 'transformers':
            return self.module(input_ids=ids, use_cache=False).logits
        return self.module.head(self.module(ids))

    def hidden(self, ids):
        """[B, T] -> [B, T, C]: the last layer's output after the final norm (what the LM head multiplies)."""
        if self.engine == 'transformers':
            return self.module.base_model(input_ids=ids, use_cache=False).last_hidden_state
        return self.module(ids)

    def named_params(self):
        """The base weights by their Hugging Face names (the tied head once, under the embedding's name)."""
        return dict(self._base_params)


def token_logprobs(logits, targets):
    """log_softmax(logits)[..., target] in float32: [B, T, V], [B, T] -> [B, T]."""
    x = logits.float()
    return x.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(x, dim=-1)


def load_model(folder, *, device='cpu', dtype=torch.float32, engine='auto'):
    """The model in `folder` (config.json + model.safetensors or its shards) on `device` in `dtype`."""
    if engine not in ('auto', 'transformers', 'builtin'):
        raise ValueError(f"load_model: engine must be 'auto', 'transformers' or 'builtin' (got {engine!r})")
    config_path = os.path.join(folder, 'config.json')
    try:
        with open(config_path, encoding='utf-8') as f:
            config = json.load(f)
    except (OSError, ValueError) as e:
        raise ValueError(f'{config_path}: cannot read the model config ({e})') from e
    if not isinstance(config, dict):
        raise ValueError(f'{config_path}: expected a JSON object')
    if engine == 'auto':
        try:
            import transformers  # noqa: F401
            engine = 'transformers'
        except ImportError:
            engine = 'builtin'
    arch = config.get('model_type')
    if engine == 'transformers':
        module = _load_transformers(folder, dtype).to(device).eval()
    else:
        module = build_builtin(config, config_path)
        _load_weights(module, folder, arch)
        module = module.to(device=device, dtype=dtype).eval()
    return LM(engine, arch, module, config, folder, dict(module.named_parameters()))


def _load_transformers(folder, dtype):
    import transformers
    # transformers 4.56 renamed from_pretrained's torch_dtype to dtype (the old name warns, later goes).
    version = tuple(int(x) for x in transformers.__version__.split('.')[:2] if x.isdigit())
    key = 'dtype' if version >= (4, 56) else 'torch_dtype'
    return transformers.AutoModelForCausalLM.from_pretrained(folder, **{key: dtype})


# ---- safetensors, read by hand -----------------------------------------------------------------------------

_NP_DTYPES = {'F32': '<f4', 'F16': '<f2', 'F64': '<f8'}


def read_safetensors(path):
    """name -> tensor (F32, F16, BF16, F64 as stored) of one .safetensors file, via a read-only memory map."""
    try:
        data = np.memmap(path, dtype=np.uint8, mode='r')
    except OSError as e:
        raise ValueError(f'{path}: cannot read ({e})') from e
    n = int(data[:8].view('<u8')[0]) if len(data) >= 8 else -1
    if n < 0 or 8 + n > len(data):
        raise ValueError(f'{path}: not a safetensors file (bad header length)')
    try:
        header = json.loads(bytes(data[8:8 + n]))
    except ValueError as e:
        raise ValueError(f'{path}: the safetensors header is not JSON ({e})') from e
    out = {}
    for name, e in header.items():
        if name == '__metadata__':
            continue
        kind, shape, (a, b) = e['dtype'], e['shape'], e['data_offsets']
        raw = data[8 + n + a:8 + n + b]
        if kind == 'BF16':  # no numpy bfloat16: the bits as int16, viewed by torch
            t = torch.from_numpy(raw.view('<i2').copy()).view(torch.bfloat16)
        elif kind in _NP_DTYPES:
            t = torch.from_numpy(raw.view(_NP_DTYPES[kind]).copy())
        else:
            raise ValueError(f'{path}: tensor {name} has dtype {kind} (supported: F32, F16, BF16, F64)')
        out[name] = t.reshape(shape)
    return out


def read_folder_weights(folder):
    """Every tensor of the folder: model.safetensors, or the shards model.safetensors.index.json lists."""
    single = os.path.join(folder, 'model.safetensors')
    if os.path.exists(single):
        return read_safetensors(single), single
    index_path = os.path.join(folder, 'model.safetensors.index.json')
    if not os.path.exists(index_path):
        raise ValueError(f'{folder}: neither model.safetensors nor model.safetensors.index.json exists')
    with open(index_path, encoding='utf-8') as f:
        weight_map = json.load(f).get('weight_map')
    if not isinstance(weight_map, dict):
        raise ValueError(f'{index_path}: weight_map is missing or not an object')
    out = {}
    for shard in sorted(set(weight_map.values())):
        out.update(read_safetensors(os.path.join(folder, shard)))
    return out, index_path


# Buffers some writers store that no built-in module has (GPT-2's causal mask, Llama's rotary frequencies).
_IGNORED_SUFFIXES = ('.attn.bias', '.attn.masked_bias', '.rotary_emb.inv_freq')


def _load_weights(module, folder, arch):
    tensors, source = read_folder_weights(folder)
    prefix = 'transformer.' if arch == 'gpt2' else 'model.'
    # The original GPT-2 checkpoints name tensors without the base model's prefix (transformers adds it).
    if not any(k.startswith(prefix) for k in tensors):
        tensors = {prefix + k: v for k, v in tensors.items()}
    params = dict(module.named_parameters())
    if 'lm_head.weight' not in params:
        tensors.pop('lm_head.weight', None)  # a tied head stored anyway: the embedding is the head
    for name, t in tensors.items():
        if name in params:
            if tuple(t.shape) != tuple(params[name].shape):
                raise ValueError(f'{source}: tensor {name} has shape {list(t.shape)}, the config says {list(params[name].shape)}')
            with torch.no_grad():
                params[name].copy_(t.to(torch.float32))
        elif not name.endswith(_IGNORED_SUFFIXES):
            raise ValueError(f'{source}: tensor {name} is not a weight of this {arch} config (config.json)')
    missing = [n for n in params if n not in tensors]
    if missing:
        raise ValueError(f'{source}: missing tensors {", ".join(missing[:5])}{" ..." if len(missing) > 5 else ""}')
