// Runs the `alol` CLI in this process (`node out/src/trainer/run-cli.js <verb> ...`): the entry the
// extension uses for reward debugging and the debugger launches. bin/alol.js does the same for users.
import { main } from './cli.js';

void main(process.argv).then((code) => process.exit(code));
