import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { openFile, openWorkbench, runCommand, screenshot, startCodeServer, vsixPath, goToLine, sleep } from './lib/harness.mjs';
const ws = '/tmp/annot-try';
const server = await startCodeServer({ workspace: ws, extensions: [vsixPath()], settings: { 'files.autoSave': 'off' } });
const wb = await openWorkbench(server);
const page = wb.page;
const shot = async (n) => console.log(await screenshot(page, `dbg-${n}`));
try {
  await openFile(page, 'data.jsonl');
  await sleep(3000);
  await shot('1-open');
  await goToLine(page, 5);
  await runCommand(page, 'A-LoL: Thumbs Up Row');
  await sleep(2000);
  await shot('2-thumbs');
  await page.keyboard.press('Control+S');
  await sleep(2000);
  await shot('3-saved');
  console.log(fs.readFileSync(path.join(ws, 'data.jsonl'), 'utf8').split('\n')[4]);
} catch (e) { console.log(e); await shot('err'); }
await wb.close(); await server.stop();
