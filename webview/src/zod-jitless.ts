// Imported first by main.ts, before any schema is built: zod v4 compiles object parsers with
// `new Function` unless told not to, and the webview's CSP (no 'unsafe-eval') blocks that with a
// violation report. Interpreted parsing is plenty fast for a few thousand events.
import { config } from 'zod';

config({ jitless: true });
