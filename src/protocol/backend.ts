// The run config's `backend` section: what computes with the models (the built-in ONNX Runtime engine or a PyTorch
// worker), how the worker starts, and the compute precision; its cross-field rules. Part of config.ts's
// RunConfigSchema (split out by concern). Pure: imports only zod.

import { z } from 'zod';

const int = (min: number) => z.number().int().min(min);

export const BackendSchema = z
  .strictObject({
    kind: z
      .enum(['builtin', 'torch'])
      .default('builtin')
      .describe(
        'what computes with the models: builtin (ONNX Runtime in the trainer process) or torch (a PyTorch worker: transformers, ' +
          'peft, torch.distributed; its interpreter comes from `alol --python` or the alolStudio.python setting, never from this file)',
      ),
    launcher: z
      .enum(['none', 'torchrun', 'accelerate'])
      .default('none')
      .describe('torch: how the worker starts: one process (none), or `processes` of them under torchrun or accelerate launch'),
    processes: int(1).default(1).describe('torch: worker processes (one per GPU); more than 1 needs a launcher'),
    fsdp: z
      .boolean()
      .default(false)
      .describe('torch: shard the model over the processes with FSDP (not supported yet: true is refused; DDP replicates the model)'),
    precision: z
      .enum(['float32', 'bfloat16', 'float16'])
      .default('float32')
      .describe(
        'the compute precision of training (autocast: MatMuls in this type; weights, AdamW, norms, softmax and the loss stay ' +
          'float32). builtin: float16 needs device webgpu or cuda (with dynamic loss scaling), bfloat16 needs cuda; ' +
          'torch: float16 needs CUDA',
      ),
    quantization: z
      .enum(['none', 'nf4'])
      .default('none')
      .describe(
        'torch: nf4 loads every model in 4 bits (QLoRA: bitsandbytes, transformers and peft on a CUDA GPU); training is then ' +
          'LoRA only (train.lora, and reference.sft.lora when the reference is fine-tuned)',
      ),
  })
  .superRefine((b, ctx) => {
    const torchOnly = b.launcher !== 'none' || b.processes !== 1 || b.fsdp || b.quantization !== 'none';
    if (b.kind === 'builtin' && torchOnly) {
      const message = 'launcher, processes, fsdp and quantization are settings of the torch backend; set kind to "torch"';
      ctx.addIssue({ code: 'custom', path: ['kind'], message });
    }
    if (b.processes > 1 && b.launcher === 'none') {
      ctx.addIssue({ code: 'custom', path: ['launcher'], message: `${b.processes} processes need a launcher: "torchrun" or "accelerate"` });
    }
    if (b.fsdp) {
      const message = 'FSDP is not supported yet; the torch backend replicates the model on every process (DDP)';
      ctx.addIssue({ code: 'custom', path: ['fsdp'], message });
    }
  })
  .describe('the compute backend (README "Bigger models: the PyTorch backend")');
