// The WebGPU adapter guess (runtime/adapter.ts: Vulkan driver manifests and device nodes) and what `--device auto`
// picks from it: CUDA, else WebGPU on a GPU that is not known to be software, else the CPU, with the reason.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type AdapterProbeEnv, guessAdapter } from '../../src/trainer/runtime/adapter.js';
import { resolveDevice } from '../../src/trainer/runtime/device.js';
import type { Provider } from '../../src/trainer/runtime/session.js';

/** A machine: files (path -> contents) and the platform; folders are listed from the file paths. */
function machine(files: Record<string, string>, over: Partial<AdapterProbeEnv> = {}): AdapterProbeEnv {
  return {
    platform: 'linux',
    env: { HOME: '/home/u' },
    list: (dir) => Object.keys(files).filter((f) => f.startsWith(`${dir}/`) && !f.slice(dir.length + 1).includes('/'))
      .map((f) => f.slice(dir.length + 1)),
    read: (f) => files[f] ?? null,
    exists: (f) => f in files,
    ...over,
  };
}

const icd = (lib: string): string => JSON.stringify({ file_format_version: '1.0.1', ICD: { library_path: lib, api_version: '1.4.0' } });
// What Debian's mesa-vulkan-drivers installs: manifests for every driver it ships, GPU or not.
const MESA = {
  '/usr/share/vulkan/icd.d/lvp_icd.json': icd('/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so'),
  '/usr/share/vulkan/icd.d/intel_icd.json': icd('/usr/lib/x86_64-linux-gnu/libvulkan_intel.so'),
  '/usr/share/vulkan/icd.d/radeon_icd.json': icd('/usr/lib/x86_64-linux-gnu/libvulkan_radeon.so'),
};

describe('the WebGPU adapter guess', () => {
  it('Mesa without a GPU device node is software (lavapipe), though it ships hardware driver manifests', () => {
    const g = guessAdapter(machine(MESA));
    assert.equal(g.kind, 'software');
    assert.match(g.detail, /lvp_icd\.json, a software rasterizer/);
  });

  it('a Mesa hardware driver with a render node is hardware', () => {
    const g = guessAdapter(machine({ ...MESA, '/dev/dri/renderD128': '' }));
    assert.equal(g.kind, 'hardware');
    assert.match(g.detail, /intel_icd\.json with a GPU render node/);
  });

  it("NVIDIA's manifest counts with its device node, also when VK_DRIVER_FILES names it outside the standard folders", () => {
    const nv = '/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json';
    const files = { [nv]: icd('libGLX_nvidia.so.0'), '/dev/nvidiactl': '', '/dev/nvidia0': '' };
    assert.equal(guessAdapter(machine(files)).kind, 'none', 'not in a standard folder and not named: not seen');
    const g = guessAdapter(machine(files, { env: { VK_DRIVER_FILES: nv } }));
    assert.equal(g.kind, 'hardware');
    assert.match(g.detail, /nvidia_icd\.json with an NVIDIA device node/);
    assert.equal(guessAdapter(machine({ [nv]: icd('libGLX_nvidia.so.0') }, { env: { VK_ICD_FILENAMES: nv } })).kind, 'none',
      'a manifest without the device node is no GPU');
  });

  it('no Vulkan driver at all is none; other platforms are unknown, said so', () => {
    assert.equal(guessAdapter(machine({})).kind, 'none');
    const mac = guessAdapter(machine(MESA, { platform: 'darwin' }));
    assert.equal(mac.kind, 'unknown');
    assert.match(mac.detail, /unknown on darwin/);
  });
});

describe('device auto', () => {
  /** A probe that succeeds for the providers given and records what it was asked. */
  const probes = (ok: Provider[]) => {
    const asked: Provider[] = [];
    const probe = async (p: Provider): Promise<string | null> => {
      asked.push(p);
      return ok.includes(p) ? null : `Failed to load the ${p} provider`;
    };
    return { asked, probe };
  };
  const all = () => ['cpu', 'webgpu', 'cuda'];
  const hardware = () => ({ kind: 'hardware' as const, detail: 'Vulkan driver nvidia_icd.json with an NVIDIA device node' });
  const software = () => ({ kind: 'software' as const, detail: 'the only usable Vulkan driver is lvp_icd.json' });

  it('picks CUDA first when it loads', async () => {
    const { probe } = probes(['cuda', 'webgpu']);
    const d = await resolveDevice('auto', probe, { backends: all, adapter: hardware });
    assert.deepEqual(d, { requested: 'auto', provider: 'cuda', reason: 'the CUDA provider loads and runs' });
  });

  it('else WebGPU on a hardware adapter, saying which', async () => {
    const { probe, asked } = probes(['webgpu']);
    const d = await resolveDevice('auto', probe, { backends: all, adapter: hardware });
    assert.equal(d.provider, 'webgpu');
    assert.match(d.reason ?? '', /WebGPU loads and runs; Vulkan driver nvidia_icd\.json/);
    assert.deepEqual(asked, ['cuda', 'webgpu']);
    assert.equal(d.fallback, undefined, 'auto choosing is not a fallback');
  });

  it('an adapter of unknown kind is used and said to be unknown', async () => {
    const { probe } = probes(['webgpu']);
    const unknown = () => ({ kind: 'unknown' as const, detail: 'adapter kind unknown on win32' });
    const d = await resolveDevice('auto', probe, { backends: all, adapter: unknown });
    assert.equal(d.provider, 'webgpu');
    assert.match(d.reason ?? '', /unknown on win32/);
  });

  it('a software adapter keeps the CPU, without even loading WebGPU, and the reason lists what was tried', async () => {
    const { probe, asked } = probes(['webgpu']);
    const d = await resolveDevice('auto', probe, { backends: all, adapter: software });
    assert.equal(d.provider, 'cpu');
    assert.deepEqual(asked, ['cuda']);
    assert.match(d.reason ?? '', /^no usable GPU provider\. CUDA: Failed to load the cuda provider; WebGPU: not used, .*lvp_icd/);
  });

  it('a provider that is not in the binary is not probed; the torch backend keeps WebGPU out', async () => {
    const { probe, asked } = probes(['webgpu', 'cuda']);
    const d = await resolveDevice('auto', probe, { backends: () => ['cpu', 'webgpu'], adapter: hardware, webgpu: false });
    assert.equal(d.provider, 'cpu');
    assert.deepEqual(asked, []);
    assert.match(d.reason ?? '', /CUDA: not in this onnxruntime-node; WebGPU: not considered here/);
  });
});
