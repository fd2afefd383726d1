"""4-bit QLoRA (backend.quantization "nf4"): every model the worker loads goes through transformers with its linear
layers in NF4 (bitsandbytes; double quantization, bf16 compute), so the reference and the policy share the quantized
base and the policy at step 0 (adapters at zero) is the reference exactly. Training is LoRA only. Needs transformers,
peft, bitsandbytes and a CUDA device; not run on this project's CI (none of those there).
"""
import json
import os

import torch


def check_nf4(device):
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


def load_nf4(folder, device):
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
