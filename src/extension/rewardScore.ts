// Score Row / Selection and how scores show in the editor: after their rows (an `after` decoration, and
// its hover), in the "A-LoL Rewards" output, and — for a row that could not be scored (NaN, a throw, a
// malformed line) — as a diagnostic on that row. Each scoring replaces what the last one showed in that
// editor, so no stale score is left on another line.

import path from 'node:path';
import * as vscode from 'vscode';
import { type RowScore, describeScore, fieldsOf, unescapeJson } from './rewardFiles.js';

/** What Score Row returns (to keybindings and tests): a row of the file, or a selection scored as a response. */
export interface ScoredRow {
  /** 1-based line of the row, or of the selection's end. */
  line: number;
  /** The selected text scored as a response; null for a dataset row. */
  selection: string | null;
  kind: string;
  /** null when the row could not be scored (then `error` says why). */
  total: number | null;
  rewards: Record<string, number>;
  error?: string;
}

/** The 0-based lines a selection touches; one that ends at the start of a line (Shift+Down) does not take that line. */
export function touchedLines(s: vscode.Selection): number[] {
  const last = s.end.line > s.start.line && s.end.character === 0 ? s.end.line - 1 : s.end.line;
  return Array.from({ length: last - s.start.line + 1 }, (_, k) => s.start.line + k);
}

/** `score-rows` failed on the whole input: the line its message names ("data.jsonl:2: not valid JSON", "line 2: …"), 0-based. */
const lineOfError = (message: string): number | undefined => {
  const m = /(?:\bline |\.jsonl:)(\d+)\b/.exec(message);
  return m ? Number(m[1]) - 1 : undefined;
};

export class ScoreDisplay implements vscode.Disposable {
  private readonly diagnostics = vscode.languages.createDiagnosticCollection('alol-score');
  private readonly inline = vscode.window.createTextEditorDecorationType({
    after: { margin: '0 0 0 2em', color: new vscode.ThemeColor('editorCodeLens.foreground') },
  });
  private readonly inlineError = vscode.window.createTextEditorDecorationType({
    after: { margin: '0 0 0 2em', color: new vscode.ThemeColor('editorError.foreground') },
  });

  constructor(readonly output: vscode.OutputChannel) {}

  /** Scores after their lines (and as their hovers: text after a long line can scroll out of reach) and in the output. */
  show(editor: vscode.TextEditor | undefined, config: string, perLine: Map<number, string[]>, label: Map<number, string>, header: string,
    errors: Map<number, string[]> = new Map()): void {
    const hover = (t: string[]) => {
      const items = t.map((x) => `- ${x.replace(/[\\`*_[\]<>]/g, '\\$&')}`).join('\n');
      const md = new vscode.MarkdownString(`**A-LoL scores** (${path.basename(config)})\n\n${items}`);
      md.isTrusted = false;
      return md;
    };
    if (editor) {
      const after = (t: string[]) => ({ after: { contentText: `  ⟶ ${t.join('  |  ')}` } });
      const shown = (m: Map<number, string[]>) => [...m].filter(([i]) => i < editor.document.lineCount);
      const range = (i: number) => editor.document.lineAt(i).range;
      const decorations = (m: Map<number, string[]>) =>
        shown(m).map(([i, t]) => ({ range: range(i), hoverMessage: hover(t), renderOptions: after(t) }));
      editor.setDecorations(this.inline, decorations(perLine));
      editor.setDecorations(this.inlineError, decorations(errors));
      const diagnostic = ([i, t]: [number, string[]]) => {
        const d = new vscode.Diagnostic(range(i), `Score Row: ${t.join('; ')}`, vscode.DiagnosticSeverity.Error);
        d.source = 'A-LoL';
        return d;
      };
      this.diagnostics.set(editor.document.uri, shown(errors).map(diagnostic));
    }
    this.output.appendLine(header);
    const all = new Map<number, string[]>([...perLine]);
    for (const [i, t] of errors) all.set(i, [...(all.get(i) ?? []), ...t.map((x) => `error: ${x}`)]);
    for (const [i, t] of [...all].sort((a, b) => a[0] - b[0])) {
      this.output.appendLine(`  ${label.get(i) ?? `line ${i + 1}`}: ${t.join('  |  ')}`);
    }
    this.output.show(true);
  }

  /**
   * Scores the rows under the cursors / selected lines of a .jsonl dataset, and any other selected text
   * as a response (with the prompt of the row it was taken from, if any). `run` runs `alol` with stdin.
   */
  async score(
    editor: vscode.TextEditor | undefined,
    config: () => Promise<string | undefined>,
    run: (args: string[], cwd: string, stdin: string) => Promise<string>,
  ): Promise<ScoredRow[] | undefined> {
    const doc = editor?.document;
    const jsonl = !!doc && /\.jsonl$/i.test(doc.fileName);
    const rowLines = new Set<number>();
    const texts: { text: string; fields: Record<string, unknown>; at: number }[] = [];
    for (const s of editor?.selections ?? []) {
      const selected = doc ? doc.getText(s) : '';
      // Rows: the cursor's row, or every line a selection touches; text: a part of one line (or any file's text).
      const wholeLines = jsonl && doc && (s.isEmpty || !s.isSingleLine || selected.trim() === doc.lineAt(s.start.line).text.trim());
      if (wholeLines && doc) {
        for (const i of touchedLines(s)) if (!doc.lineAt(i).isEmptyOrWhitespace) rowLines.add(i);
      } else if (selected.trim() && doc) {
        const fields = jsonl ? fieldsOf(doc.lineAt(s.start.line).text) : {};
        texts.push({ text: jsonl ? unescapeJson(selected) : selected, fields, at: s.end.line });
      }
    }
    if (!editor || !doc || (!rowLines.size && !texts.length)) {
      const how = 'put the cursor on a row of a .jsonl dataset, select rows, or select text to score as a response.';
      return void vscode.window.showWarningMessage(`A-LoL: ${how}`);
    }
    const file = await config();
    if (!file) return undefined;
    // The document's own line numbers reach the trainer (unselected lines blank), so an error names the
    // file's line; selected text follows as rows of its own after the last line.
    const lineCount = doc.lineCount;
    const input = [
      ...Array.from({ length: lineCount }, (_, i) => (rowLines.has(i) ? doc.lineAt(i).text : '')),
      ...texts.map((t, k) => {
        const prompt = typeof t.fields.prompt === 'string' ? t.fields.prompt : '';
        return JSON.stringify({ ...t.fields, id: `selection ${k + 1}`, prompt, response: t.text });
      }),
    ].join('\n');
    const selections = texts.length ? ` and ${texts.length} selection(s)` : '';
    const header = `score of ${rowLines.size} row line(s)${selections} of ${doc.fileName} with ${path.basename(file)}:`;
    let out: RowScore[];
    try {
      const args = ['score-rows', '--config', file, '--input', '-', '--input-name', doc.fileName, '--json'];
      out = JSON.parse(await run(args, path.dirname(file), input)) as RowScore[];
    } catch (e) {
      // The whole input was refused (a malformed row): the reason on its line, nothing else left shown.
      const message = (e as Error).message;
      const at = lineOfError(message);
      const errors = new Map(at !== undefined && at < lineCount ? [[at, [message]]] : []);
      this.show(editor, file, new Map(), new Map(), `${header} failed: ${message}`, errors);
      void vscode.window.showErrorMessage(`A-LoL: scoring failed: ${path.basename(doc.fileName)}: ${message}`);
      return undefined;
    }
    const perLine = new Map<number, string[]>();
    const errors = new Map<number, string[]>();
    const label = new Map<number, string>();
    for (const i of rowLines) {
      const here = out.filter((r) => r.line === i + 1);
      const good = here.filter((r) => r.total !== null);
      if (good.length) perLine.set(i, good.map((r) => describeScore(r, here.length > 1)));
      const bad = here.filter((r) => r.total === null).map((r) => `${here.length > 1 ? `${r.kind}: ` : ''}${r.error ?? 'not scored'}`);
      if (bad.length) errors.set(i, bad);
      label.set(i, `line ${i + 1}`);
    }
    texts.forEach((t, k) => {
      const r = out.find((x) => x.line === lineCount + k + 1);
      if (!r) return;
      if (r.total === null) errors.set(t.at, [...(errors.get(t.at) ?? []), `selection: ${r.error ?? 'not scored'}`]);
      else perLine.set(t.at, [...(perLine.get(t.at) ?? []), `selection: ${describeScore(r, false)}`]);
      label.set(t.at, label.get(t.at) ?? `selection ${k + 1} (line ${t.at + 1})`);
    });
    this.show(editor, file, perLine, label, header, errors);
    if (errors.size) {
      const n = [...errors.values()].reduce((s, x) => s + x.length, 0);
      void vscode.window.showWarningMessage(`A-LoL: ${n} row(s) could not be scored (see Problems and the A-LoL Rewards output).`);
    }
    return out.map((r) => {
      const scores = { kind: r.kind, total: r.total, rewards: r.rewards, ...(r.error !== undefined ? { error: r.error } : {}) };
      if (r.line <= lineCount) return { line: r.line, selection: null, ...scores };
      const t = texts[r.line - lineCount - 1];
      return { line: t.at + 1, selection: t.text, ...scores };
    });
  }

  dispose(): void {
    this.diagnostics.dispose();
    this.inline.dispose();
    this.inlineError.dispose();
  }
}
