import { openFile, openWorkbench, runCommand, screenshot, startCodeServer, vsixPath, goToLine, sleep, extHostLog } from './lib/harness.mjs';
const ws = '/tmp/annot-try';
const server = await startCodeServer({ workspace: ws, extensions: [vsixPath()], settings: { 'files.autoSave': 'off' } });
const wb = await openWorkbench(server);
const page = wb.page;
try {
  await runCommand(page, 'A-LoL: Show Version');
  await sleep(3000);
  console.log(await screenshot(page, 'dbg-ver'));
} catch (e) { console.log(e); }
console.log(extHostLog(server, 80));
await wb.close(); await server.stop();
