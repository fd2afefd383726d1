// Short content hashes for cache keys: sha256 over the parts (bytes as they are, anything else as
// JSON), 16 hex characters.

import { createHash } from 'node:crypto';

export const sha = (...parts: unknown[]): string => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p instanceof Uint8Array ? p : JSON.stringify(p));
  return h.digest('hex').slice(0, 16);
};
