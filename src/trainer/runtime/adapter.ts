// What kind of GPU adapter WebGPU would run on, best effort. Node's onnxruntime binding exposes no adapter
// information (no GPUDevice, no adapter name), so this reads what the Vulkan loader reads on Linux: its
// driver manifests (ICD .json files) and the device nodes a hardware driver needs. Mesa installs manifests
// for every driver it ships (intel, radeon, ...) whether or not such a GPU is there, so a manifest counts
// as hardware only beside its device node (/dev/nvidia* for NVIDIA's driver, /dev/dri/renderD* for Mesa's).
// Elsewhere (macOS, Windows) the kind is `unknown`: said so, never guessed.

import { existsSync, readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export type AdapterKind = 'hardware' | 'software' | 'none' | 'unknown';

export interface AdapterGuess {
  kind: AdapterKind;
  /** What the guess rests on, for the user: e.g. "Vulkan driver lvp_icd.json (Mesa lavapipe, software)". */
  detail: string;
}

/** What the detection reads; tests pass their own. */
export interface AdapterProbeEnv {
  platform: NodeJS.Platform;
  env: Record<string, string | undefined>;
  /** Files in a folder (empty when it does not exist). */
  list(dir: string): string[];
  read(file: string): string | null;
  exists(file: string): boolean;
}

export const hostEnv: AdapterProbeEnv = {
  platform: process.platform,
  env: process.env,
  list: (dir) => {
    try {
      return readdirSync(dir);
    } catch {
      return [];
    }
  },
  read: (file) => {
    try {
      return readFileSync(file, 'utf8');
    } catch {
      return null;
    }
  },
  exists: (file) => existsSync(file),
};

const SOFTWARE = /lvp|lavapipe|llvmpipe|swiftshader|swrast/i;
const NVIDIA = /nvidia/i;

/** The Vulkan driver manifests the loader would use: VK_DRIVER_FILES / VK_ICD_FILENAMES, else the standard folders. */
function manifests(e: AdapterProbeEnv): string[] {
  const given = e.env.VK_DRIVER_FILES || e.env.VK_ICD_FILENAMES;
  if (given) return given.split(path.delimiter).filter(Boolean);
  const dataDirs = (e.env.XDG_DATA_DIRS || '/usr/local/share:/usr/share').split(':').filter(Boolean);
  const home = e.env.HOME ?? os.homedir();
  const dirs = ['/etc/vulkan/icd.d', ...dataDirs.map((d) => path.join(d, 'vulkan/icd.d')), path.join(home, '.local/share/vulkan/icd.d')];
  return [...new Set(dirs)].flatMap((d) => e.list(d).filter((f) => f.endsWith('.json')).map((f) => path.join(d, f)));
}

/** The driver library a manifest names (for the software check), else its file name. */
function driverOf(e: AdapterProbeEnv, file: string): string {
  const text = e.read(file);
  if (text === null) return path.basename(file);
  try {
    const lib = (JSON.parse(text) as { ICD?: { library_path?: unknown } }).ICD?.library_path;
    return `${path.basename(file)} ${typeof lib === 'string' ? path.basename(lib) : ''}`.trim();
  } catch {
    return path.basename(file);
  }
}

/** The adapter WebGPU would most likely get on this machine, and why we think so. */
export function guessAdapter(e: AdapterProbeEnv = hostEnv): AdapterGuess {
  if (e.platform !== 'linux') {
    return { kind: 'unknown', detail: `adapter kind unknown on ${e.platform} (onnxruntime-node exposes no adapter information)` };
  }
  const files = manifests(e).filter((f) => e.exists(f));
  if (files.length === 0) return { kind: 'none', detail: 'no Vulkan driver manifest (icd.d/*.json) was found' };
  const drivers = files.map((f) => driverOf(e, f));
  const nvidiaNode = e.exists('/dev/nvidiactl') || e.list('/dev').some((d) => /^nvidia\d+$/.test(d));
  const renderNode = e.list('/dev/dri').some((d) => d.startsWith('renderD'));
  const name = (d: string): string => d.split(' ')[0];
  const nvidia = drivers.find((d) => NVIDIA.test(d));
  if (nvidia && nvidiaNode) return { kind: 'hardware', detail: `Vulkan driver ${name(nvidia)} with an NVIDIA device node` };
  const mesaHw = drivers.find((d) => !SOFTWARE.test(d) && !NVIDIA.test(d));
  if (mesaHw && renderNode) return { kind: 'hardware', detail: `Vulkan driver ${name(mesaHw)} with a GPU render node (/dev/dri)` };
  const soft = drivers.find((d) => SOFTWARE.test(d));
  if (soft) {
    return {
      kind: 'software',
      detail: `the only usable Vulkan driver is ${name(soft)}, a software rasterizer on the CPU (no GPU device node was found)`,
    };
  }
  return { kind: 'none', detail: `Vulkan driver manifests (${drivers.map(name).join(', ')}) but no GPU device node` };
}
