// Shared CLI option parsers: each rejects a bad value with a one-line reason commander prints.

import { type Command, InvalidArgumentError } from 'commander';
import { DEVICE_REQUESTS, type DeviceRequest, PRECISIONS, resolveDevice } from '../runtime/device.js';
import type { Provider } from '../runtime/session.js';

export function int(min = 0): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer >= ${min}`);
    return n;
  };
}

/** train.parallelVariants on the command line: auto, or an integer 1-8. */
export function parallelVariants(v: string): 'auto' | number {
  if (v === 'auto') return v;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 8) throw new InvalidArgumentError('expected auto or an integer from 1 to 8');
  return n;
}

export function num(min = -Infinity, max = Infinity): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(
      `expected a number in [${min}, ${max}]`,
    );
    return n;
  };
}

export function oneOf<T extends string>(choices: readonly T[]): (v: string) => T {
  return (v) => {
    if (!(choices as readonly string[]).includes(v)) throw new InvalidArgumentError(`use one of: ${choices.join(', ')}`);
    return v as T;
  };
}

export const device = oneOf(DEVICE_REQUESTS);
export const precision = oneOf(PRECISIONS);
export const PRECISION_HELP =
  'float32 | float16 | bfloat16: what training MatMuls compute in (weights and AdamW stay float32); float16 needs ' +
  'device webgpu or cuda, bfloat16 cuda (refused on cpu)';

export function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

/** Resolves --device and says on stderr when it fell back to the CPU. */
export async function providerFor(requested: DeviceRequest): Promise<Provider> {
  const d = await resolveDevice(requested);
  if (d.fallback) process.stderr.write(`alol: ${d.fallback}\n`);
  return d.provider;
}

/** --backend and --python of the verbs that run models under a run config (audit, train, eval). */
export function backendOptions(cmd: Command): Command {
  return cmd
    .option('--backend <kind>', 'compute backend: builtin (ONNX Runtime) or torch (the PyTorch worker); sets backend.kind',
      oneOf(['builtin', 'torch'] as const))
    .option('--precision <type>', `${PRECISION_HELP}; sets backend.precision`, precision)
    .option('--python <path>', "the torch backend's Python interpreter (default: python3 on PATH; never read from the run config)");
}
