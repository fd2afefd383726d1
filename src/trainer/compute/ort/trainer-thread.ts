// A policy trainer of the ONNX Runtime backend in a worker thread of its own (thread-trainer.ts starts it): the
// worker holds an OrtBackend of its own (its sessions, on `options.threads` intra-op threads) and one trainer, and
// answers the main thread's requests in the order they come. ORT's node binding runs a session on the calling
// thread, so a trainer here leaves the main thread free: two of them train two variants at once.

import { parentPort, workerData } from 'node:worker_threads';
import { OrtBackend } from './backend.js';
import { type TrainerReply, type TrainerRequest, type TrainerThreadData, threadErrorOf } from './thread-protocol.js';

if (parentPort) {
  const port = parentPort;
  const data = workerData as TrainerThreadData;
  const backend = new OrtBackend(data.options, data.precision);
  const trainer = backend.policyTrainer(data.model, data.spec);
  const handle = async (r: TrainerRequest): Promise<unknown> => {
    const a = r.args as never[];
    switch (r.op) {
      case 'update':
        return trainer.update(a[0], a[1]);
      case 'updateMany': {
        const many = trainer.updateMany;
        if (!many) throw new Error('trainer thread: the trainer has no updateMany');
        return many.call(trainer, a[0], a[1]);
      }
      case 'weights':
        return trainer.weights();
      case 'state':
        return trainer.state();
      case 'loadState':
        return trainer.loadState(a[0], a[1]);
      case 'logprobs':
        return trainer.logprobs(a[0]);
      case 'dispose':
        await trainer.dispose();
        return backend.release();
    }
  };
  // one request at a time, in order (the main thread awaits each; this keeps the order if it ever does not)
  let queue: Promise<void> = Promise.resolve();
  port.on('message', (r: TrainerRequest) => {
    queue = queue.then(async () => {
      let reply: TrainerReply;
      try {
        reply = { id: r.id, ok: true, value: (await handle(r)) ?? null, step: trainer.step };
      } catch (e) {
        reply = { id: r.id, ok: false, error: threadErrorOf(e) };
      }
      port.postMessage(reply);
    });
  });
}
