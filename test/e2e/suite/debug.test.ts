// Debug Reward Function in the real extension host: the command starts VS Code's Node debugger on the
// trainer's reward runner; a breakpoint set (through the debug API) in the user's reward module .ts
// stops there with the row in scope; continuing runs to the results. Every check goes through the
// debug API and the Debug Adapter Protocol messages the debugger exchanges with VS Code.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { after, before, describe, it } from 'mocha';
import { outputChannel } from './wait.js';

interface DapMessage {
  type: string;
  event?: string;
  command?: string;
  body?: Record<string, unknown>;
}

interface Seen {
  session: vscode.DebugSession;
  message: DapMessage;
}

const REWARD = `// a reward module written by the test
export default function score(batch: { prompt: string; response: string }[]): number[] {
  return batch.map((x) => {
    const n = x.response.length;
    return n / 100;
  });
}
`;
const BREAK_LINE = 4; // 1-based: "const n = x.response.length;"

const ROWS = [
  { id: 'a', prompt: 'Human: hi\n\nAssistant:', response: ' hello there, friend' },
  { id: 'b', prompt: 'Human: bye\n\nAssistant:', response: ' see you' },
];

const CONFIG = {
  data: { path: 'dbg-data.jsonl' },
  model: { init: { layers: 1, embd: 16, heads: 2, positions: 64 } },
  rewards: [{ name: 'dbg', kind: 'module', path: 'rewards/dbg.ts', range: [0, 1], weight: 1, timeoutMs: 2000 }],
};

/** Resolves with the first message (from any debug session) that `test` accepts, or rejects after `ms`. */
function waitFor(seen: Seen[], listeners: Set<() => void>, test: (s: Seen) => boolean, ms: number, what: string): Promise<Seen> {
  return new Promise((resolve, reject) => {
    const check = (): boolean => {
      const hit = seen.find(test);
      if (!hit) return false;
      clearTimeout(timer);
      listeners.delete(check);
      resolve(hit);
      return true;
    };
    const timer = setTimeout(() => {
      listeners.delete(check);
      const events = seen.filter((s) => s.message.event !== 'loadedSource').map((s) =>
        `${s.session.type}/${s.session.id.slice(0, 4)}:${s.message.type}:${s.message.event ?? s.message.command}`
        + `${s.message.event === 'output' ? `(${String(s.message.body?.output).trim().slice(0, 400)})` : ''}`
        + `${/reakpoint/.test(String(s.message.command ?? s.message.event))
          ? JSON.stringify(s.message.body ?? (s.message as { arguments?: unknown }).arguments).slice(0, 300) : ''}`);
      reject(new Error(`no ${what} within ${ms} ms; seen: ${events.join(', ') || 'nothing'}`));
    }, ms);
    if (!check()) listeners.add(check);
  });
}

describe('Debug Reward Function', function () {
  this.timeout(120_000);
  let root: string;
  const seen: Seen[] = [];
  const listeners = new Set<() => void>();
  const disposables: vscode.Disposable[] = [];

  before(async () => {
    const folder = vscode.workspace.workspaceFolders?.[0];
    assert.ok(folder, 'the suite needs a workspace folder');
    root = folder.uri.fsPath;
    fs.mkdirSync(path.join(root, 'rewards'), { recursive: true });
    fs.writeFileSync(path.join(root, 'rewards', 'dbg.ts'), REWARD);
    fs.writeFileSync(path.join(root, 'dbg-data.jsonl'), `${ROWS.map((r) => JSON.stringify(r)).join('\n')}\n`);
    fs.writeFileSync(path.join(root, 'dbg.alol.json'), JSON.stringify(CONFIG, null, 2));
    await vscode.extensions.getExtension('alol-studio.alol-studio')?.activate();
    disposables.push(vscode.debug.registerDebugAdapterTrackerFactory('*', {
      createDebugAdapterTracker: (session) => ({
        onDidSendMessage: (message: DapMessage) => {
          seen.push({ session, message });
          for (const l of [...listeners]) l();
        },
        onWillReceiveMessage: (message: DapMessage) => {
          seen.push({ session, message: { ...message, type: `to-adapter-${message.type}` } });
        },
      }),
    }));
  });

  after(async () => {
    await vscode.debug.stopDebugging();
    vscode.debug.removeBreakpoints(vscode.debug.breakpoints);
    for (const d of disposables) d.dispose();
  });

  it('stops at a breakpoint in the reward module with the selected row in scope, then continues to its result', async () => {
    const file = path.join(root, 'rewards', 'dbg.ts');
    const bp = new vscode.SourceBreakpoint(new vscode.Location(vscode.Uri.file(file), new vscode.Position(BREAK_LINE - 1, 0)));
    vscode.debug.addBreakpoints([bp]);

    // The cursor on the dataset's second row: the run scores that row only.
    const editor = await vscode.window.showTextDocument(vscode.Uri.file(path.join(root, 'dbg-data.jsonl')));
    editor.selection = new vscode.Selection(1, 3, 1, 3);
    const started = await vscode.commands.executeCommand<boolean>(
      'alolStudio.debugRewardFunction', path.join(root, 'dbg.alol.json'), 'dbg');
    assert.equal(started, true, 'vscode.debug.startDebugging did not start a session');

    const stopped = await waitFor(
      seen, listeners, (s) => s.message.type === 'event' && s.message.event === 'stopped', 90_000, 'stopped event');
    const session = stopped.session;
    const threadId = (stopped.message.body?.threadId as number | undefined) ?? 0;
    assert.equal(stopped.message.body?.reason, 'breakpoint', `stopped for ${String(stopped.message.body?.reason)}, not at the breakpoint`);

    const trace = await session.customRequest('stackTrace', { threadId, startFrame: 0, levels: 5 }) as {
      stackFrames: { id: number; line: number; source?: { path?: string } }[];
    };
    const top = trace.stackFrames[0];
    assert.ok(top?.source?.path, 'the top frame has no source');
    // In a remote window (code-server) the debugger names sources by vscode-remote:// URI.
    const where = /^[a-z][a-z+.-]*:\/\//i.test(top.source.path) ? vscode.Uri.parse(top.source.path).path : top.source.path;
    assert.equal(path.resolve(where), path.resolve(file), `stopped in ${top.source.path}, not in the reward module`);
    assert.equal(top.line, BREAK_LINE);

    // The row is in scope: the callback's `x` is the selected row.
    const { scopes } = await session.customRequest('scopes', { frameId: top.id }) as {
      scopes: { name: string; variablesReference: number }[];
    };
    const local = scopes.find((s) => /local/i.test(s.name)) ?? scopes[0];
    const { variables } = await session.customRequest('variables', { variablesReference: local.variablesReference }) as {
      variables: { name: string; value: string; variablesReference: number }[];
    };
    const x = variables.find((v) => v.name === 'x');
    assert.ok(x, `no \`x\` in ${local.name} scope (${variables.map((v) => v.name).join(', ')})`);
    const fields = (await session.customRequest('variables', { variablesReference: x.variablesReference }) as {
      variables: { name: string; value: string }[];
    }).variables;
    const response = fields.find((f) => f.name === 'response')?.value ?? '';
    assert.ok(response.includes(ROWS[1].response.trim()), `x.response is ${response}, not row b's response`);

    await session.customRequest('continue', { threadId });
    const total = (ROWS[1].response.length / 100).toFixed(4);
    const result = await waitFor(seen, listeners, (s) => s.message.event === 'output' && s.message.body?.category === 'stdout'
      && /line \d+ \(/.test(String(s.message.body?.output)), 60_000, 'result output');
    await waitFor(
      seen, listeners, (s) => s.message.event === 'terminated' && s.session.id === result.session.id, 30_000, 'terminated event');
    const outputs = seen.filter((s) => s.message.event === 'output');
    // The program's own stdout: other categories (telemetry, console, stderr) arrive in between, unterminated.
    const output = outputs.filter((s) => s.session.id === result.session.id && s.message.body?.category === 'stdout')
      .map((s) => String(s.message.body?.output)).join('');
    const events = outputs.map((s) =>
      `${s.session.id.slice(0, 4)}/${String(s.message.body?.category)}: ${JSON.stringify(s.message.body?.output)}`);
    assert.deepEqual(output.match(/^line .*$/gm), [`line 2 (b): total ${total}  dbg ${total}`], `output events:\n${events.join('\n')}`);
    assert.equal(seen.filter((s) => s.message.event === 'stopped').length, 1, 'stopped more than once for one row');
    assert.equal(fs.existsSync(path.join(root, 'rewards', 'dbg.ts.alol-debug.js')), false, 'the debug copy of the bundle was left behind');
    // When the session ends, the extension shows the run's scores like Score Row's (output and inline).
    const header = `debug of dbg on 1 row(s) of ${path.join(root, 'dbg-data.jsonl')} with dbg.alol.json:`;
    const text = await outputChannel('A-LoL Rewards', header, 30_000);
    const shown = text.slice(text.indexOf(header)).split('\n')[1];
    assert.equal(shown, `  line 2: total ${(ROWS[1].response.length / 100).toFixed(3)} `
      + `· dbg ${(ROWS[1].response.length / 100).toFixed(3)}`);
  });
});
