// Dataset files in the editor: each row's reward (total and components), value, advantage and
// kept/filtered from the latest run in the workspace that used the file — matched by row identity, so
// edits elsewhere never move values onto the wrong rows — as a CodeLens above the row, gutter markers
// (a grey funnel on filtered rows, a blue tag on annotated ones, both when both; in the overview ruler in
// theme colours, with a tooltip on the line), a hover with the details, and a status-bar summary. Annotation commands set
// human_label / human_reward / note / exclude on the rows under the cursor through a WorkspaceEdit.

import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import * as vscode from 'vscode';
import type { AdvantageRow } from '../protocol/advantages.js';
import { type AnnotationField, type LineRows, annotationText, isAnnotated, mapRows, setField } from './datasetRows.js';
import { COLORS } from './constants.js';
import { listRuns, readAdvantages } from './runs.js';

interface RunAdvantages {
  rows: AdvantageRow[];
  byId: Map<string, AdvantageRow>;
}

interface RunValues {
  runDir: string;
  byId: Map<string, AdvantageRow>;
}

const fmt = (x: number, signed = false) => `${signed && x >= 0 ? '+' : ''}${x.toFixed(3)}`;

export function lensText(a: AdvantageRow): string {
  const parts = Object.entries(a.reward).filter(([k]) => k !== 'total').map(([k, v]) => `${k} ${fmt(v)}`);
  const kept = a.kept ? 'kept' : 'filtered';
  return `R ${fmt(a.reward.total)} (${parts.join(' · ')}) · V ${fmt(a.value)} · A ${fmt(a.advantage, true)} · ${kept}`;
}

export class DatasetAnnotations implements vscode.CodeLensProvider, vscode.HoverProvider, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.changed.event;
  private readonly cache = new Map<string, { mtimeMs: number; values: RunAdvantages }>();
  private readonly rowsCache = new Map<string, { version: number; rows: LineRows[] }>();
  private readonly status = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 100);
  /** Gutter markers: filtered, annotated, both (a line shows one gutter icon, so "both" has its own). */
  private readonly marks: Record<'filtered' | 'annotated' | 'both', vscode.TextEditorDecorationType>;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly runsDir: () => string,
    extensionUri: vscode.Uri,
    /** Where bad lines of an advantages.jsonl are reported (the trainer log). */
    private readonly log: (line: string) => void,
  ) {
    const mark = (icon: string, ruler: string) => vscode.window.createTextEditorDecorationType({
      gutterIconPath: vscode.Uri.joinPath(extensionUri, 'media', icon),
      gutterIconSize: 'contain',
      overviewRulerColor: new vscode.ThemeColor(ruler),
      overviewRulerLane: vscode.OverviewRulerLane.Left,
      isWholeLine: true,
    });
    this.marks = {
      filtered: mark('filtered.svg', COLORS.filteredRow),
      annotated: mark('annotated.svg', COLORS.annotatedRow),
      both: mark('filtered-annotated.svg', COLORS.filteredRow),
    };
    const watcher = vscode.workspace.createFileSystemWatcher('**/advantages.jsonl');
    this.disposables.push(
      watcher,
      watcher.onDidChange(() => this.refresh()),
      watcher.onDidCreate(() => this.refresh()),
      vscode.workspace.onDidChangeTextDocument((e) => {
        if (isDataset(e.document)) this.refresh();
      }),
      vscode.window.onDidChangeActiveTextEditor(() => this.refresh()),
      this.status,
      ...Object.values(this.marks),
      this.changed,
    );
    this.refresh();
  }

  private refresh(): void {
    this.changed.fire();
    this.decorate();
  }

  /** The rows of a document (cached per version). */
  rows(doc: vscode.TextDocument): LineRows[] {
    const hit = this.rowsCache.get(doc.uri.toString());
    if (hit && hit.version === doc.version) return hit.rows;
    const rows = mapRows(doc.getText(), doc.uri.fsPath);
    this.rowsCache.set(doc.uri.toString(), { version: doc.version, rows });
    return rows;
  }

  /** The rows of a dataset file: its open document's (unsaved edits included), else the file's; null for .gz or unreadable. */
  rowsOfFile(file: string): LineRows[] | null {
    const open = vscode.workspace.textDocuments.find((d) => d.uri.scheme === 'file' && path.resolve(d.uri.fsPath) === path.resolve(file));
    if (open) return this.rows(open);
    if (/\.gz$/i.test(file)) return null;
    try {
      return mapRows(readFileSync(file, 'utf8'), file);
    } catch {
      return null;
    }
  }

  /** Values of the newest run whose advantages.jsonl used this file. */
  values(file: string): RunValues | null {
    for (const runDir of listRuns(this.runsDir())) {
      const adv = path.join(runDir, 'advantages.jsonl');
      if (!existsSync(adv)) continue;
      const values = { runDir, byId: this.advantagesOf(adv).byId };
      const prefix = `${path.resolve(file)}|`;
      for (const k of values.byId.keys()) if (k.startsWith(prefix)) return values;
    }
    return null;
  }

  /**
   * The valid rows of an advantages.jsonl, in file order and by `resolved file|rowId`, cached by the file's
   * mtime. Bad lines are skipped and reported once per version of the file: each in the log, the first in
   * a warning.
   */
  advantagesOf(adv: string): RunAdvantages {
    const mtimeMs = statSync(adv).mtimeMs;
    const hit = this.cache.get(adv);
    if (hit && hit.mtimeMs === mtimeMs) return hit.values;
    const { rows, rejected } = readAdvantages(adv);
    const byId = new Map(rows.map((a) => [`${path.resolve(a.file)}|${a.rowId}`, a]));
    this.cache.set(adv, { mtimeMs, values: { rows, byId } });
    if (rejected.length) {
      for (const r of rejected) this.log(`[advantages] invalid line skipped: ${r}`);
      const more = rejected.length > 1 ? ` and ${rejected.length - 1} more (see the trainer log)` : '';
      void vscode.window.showWarningMessage(`A-LoL: skipped invalid lines of ${adv}: ${rejected[0]}${more}`);
    }
    return { rows, byId };
  }

  private lookup(values: RunValues | null, file: string, id: string): AdvantageRow | undefined {
    return values?.byId.get(`${path.resolve(file)}|${id}`);
  }

  provideCodeLenses(doc: vscode.TextDocument): vscode.CodeLens[] {
    if (!isDataset(doc)) return [];
    const values = this.values(doc.uri.fsPath);
    return this.rows(doc).map((l) => {
      const range = new vscode.Range(l.index, 0, l.index, 0);
      if (l.error) return new vscode.CodeLens(range, { title: `$(warning) not a row: ${l.error}`, command: '' });
      if (!values) return new vscode.CodeLens(range, { title: 'no audit or run of this file yet (A-LoL: Audit Advantages)', command: '' });
      const texts = l.rows.map((r) => {
        const a = this.lookup(values, doc.uri.fsPath, r.id);
        const who = l.rows.length > 1 ? `${r.kind}: ` : '';
        return a ? `${who}${lensText(a)}` : `${who}not in the training split of ${path.basename(values.runDir)}`;
      });
      return new vscode.CodeLens(range, { title: texts.join('   |   '), command: '' });
    });
  }

  provideHover(doc: vscode.TextDocument, pos: vscode.Position): vscode.Hover | undefined {
    if (!isDataset(doc)) return undefined;
    const l = this.rows(doc).find((x) => x.index === pos.line);
    const values = this.values(doc.uri.fsPath);
    if (!l || !values) return undefined;
    const md = new vscode.MarkdownString();
    md.isTrusted = false; // data is shown as text, never as trusted markdown
    for (const r of l.rows) {
      const a = this.lookup(values, doc.uri.fsPath, r.id);
      md.appendMarkdown(`**${l.rows.length > 1 ? r.kind : 'row'}** \`${r.id}\`  \n`);
      if (!a) md.appendText(`not in the training split of ${values.runDir}\n`);
      else {
        md.appendText(
          `reward ${fmt(a.reward.total)}, value ${fmt(a.value)}, advantage ${fmt(a.advantage, true)} (${a.kept ? 'kept' : 'filtered'})\n` +
            `reference log-prob ${a.refLogprob.toFixed(2)} over ${a.refTokens} tokens, sampled ${a.timesSampled} times\n` +
            `from ${values.runDir}\n`,
        );
      }
    }
    return new vscode.Hover(md);
  }

  private decorate(): void {
    const editor = vscode.window.activeTextEditor;
    if (!editor || !isDataset(editor.document)) {
      this.status.hide();
      return;
    }
    const doc = editor.document;
    const rows = this.rows(doc);
    const values = this.values(doc.uri.fsPath);
    const marked: Record<keyof typeof this.marks, vscode.DecorationOptions[]> = { filtered: [], annotated: [], both: [] };
    let kept = 0;
    let dropped = 0;
    let sum = 0;
    let n = 0;
    for (const l of rows) {
      for (const r of l.rows) {
        const a = this.lookup(values, doc.uri.fsPath, r.id);
        if (!a) continue;
        n++;
        sum += a.reward.total;
        if (a.kept) kept++;
        else dropped++;
      }
      const anyFiltered = l.rows.some((r) => this.lookup(values, doc.uri.fsPath, r.id)?.kept === false);
      const annotatedRow = l.rows.find(isAnnotated);
      const kind = anyFiltered && annotatedRow ? 'both' : anyFiltered ? 'filtered' : annotatedRow ? 'annotated' : null;
      if (!kind) continue;
      const why: string[] = [];
      if (anyFiltered && values) why.push(`filtered: advantage ≤ 0 in ${path.basename(values.runDir)}; A-LoL does not train on it`);
      if (annotatedRow) why.push(`annotated: ${annotationText(annotatedRow)}`);
      const hoverMessage = new vscode.MarkdownString().appendText(`A-LoL — ${why.join('; ')}`);
      marked[kind].push({ range: doc.lineAt(l.index).range, hoverMessage });
    }
    for (const k of Object.keys(this.marks) as (keyof typeof this.marks)[]) editor.setDecorations(this.marks[k], marked[k]);
    const all = rows.flatMap((l) => l.rows);
    const annotated = all.filter(isAnnotated).length;
    const run = values ? ` · ${kept} kept / ${dropped} filtered · mean R ${n ? (sum / n).toFixed(3) : '-'}` : '';
    this.status.text = `A-LoL: ${all.length} rows · ${annotated} annotated${run}`;
    this.status.tooltip = values ? `values from ${values.runDir}` : 'no audit or run of this file yet';
    this.status.show();
  }

  /** Sets `field` on the rows at the cursor or in the selections (one undoable edit). */
  async annotate(field: AnnotationField, value: string | number | boolean): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    if (!editor || !isDataset(editor.document)) {
      return void vscode.window.showWarningMessage('A-LoL: open a .jsonl dataset and put the cursor on a row.');
    }
    const doc = editor.document;
    const lines = new Set<number>();
    for (const s of editor.selections) for (let i = s.start.line; i <= s.end.line; i++) lines.add(i);
    const edit = new vscode.WorkspaceEdit();
    const refused: string[] = [];
    for (const i of [...lines].sort((a, b) => a - b)) {
      const line = doc.lineAt(i);
      if (line.isEmptyOrWhitespace) continue;
      try {
        edit.replace(doc.uri, line.range, setField(line.text, field, value));
      } catch (e) {
        refused.push(`line ${i + 1}: ${(e as Error).message}`);
      }
    }
    if (refused.length) void vscode.window.showWarningMessage(`A-LoL: not annotated — ${refused.join('; ')}`);
    if (edit.size > 0) await vscode.workspace.applyEdit(edit);
  }

  /** Opens the file with the cursor on the row of this identity (its recorded line if not found). */
  async reveal(file: string, rowId: string, recordedLine: number): Promise<void> {
    const doc = await vscode.workspace.openTextDocument(file);
    const at = this.rows(doc).find((l) => l.rows.some((r) => r.id === rowId))?.index ?? Math.max(0, recordedLine - 1);
    const pos = new vscode.Position(at, 0);
    await vscode.window.showTextDocument(doc, { selection: new vscode.Range(pos, pos) });
  }

  dispose(): void {
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}

/** A .jsonl file that can hold rows: not a run folder's own events.jsonl / advantages.jsonl or a cache. */
export function isDataset(doc: vscode.TextDocument): boolean {
  const p = doc.uri.fsPath;
  const runFile = /(^|[\\/])(events|advantages)\.jsonl$/i.test(p);
  const cache = /[\\/]\.alol[\\/]/.test(p);
  return doc.uri.scheme === 'file' && /\.jsonl$/i.test(p) && !runFile && !cache;
}
