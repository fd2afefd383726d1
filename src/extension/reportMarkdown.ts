// The Reward Report as Markdown (without `vscode`): what `alol reward-report --json` returns, rendered for
// VS Code's Markdown preview — per component its summary, share of the total, correlations, warnings and a
// histogram table, then every row that could not be scored with its reason and a link to its line.

/** One component as `reward-report --json` writes it (src/trainer/rewards/report.ts's ComponentReport). */
export interface ReportComponent {
  name: string;
  weight: number;
  range: [number, number];
  summary: { count: number; mean: number; min: number; max: number; histogram: { edges: number[]; counts: number[] } };
  lengthCorrelation: number | null;
  correlations: Record<string, number | null>;
  shareOfTotal: number;
  warnings: string[];
}

export interface ReportJson {
  /** Rows scored, of `of` rows in the dataset. */
  rows: number;
  of: number;
  /** The dataset: resolved, and as the config writes it. */
  file: string;
  dataPath: string;
  skipped: { line: number; rowId: string; kind: string; errors: { component: string; message: string }[] }[];
  components: ReportComponent[];
}

/** Text shown as is: Markdown's special characters escaped (dataset text and error messages are data). */
export const escapeMarkdown = (s: string): string => s.replace(/[\\`*_{}[\]()<>#+\-.!|~]/g, '\\$&').replace(/\r?\n/g, ' ');

const fmt = (x: number): string => (Number.isInteger(x) ? String(x) : Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(2));
const num = (x: number | null, digits: number) => (x === null || !Number.isFinite(x) ? '-' : x.toFixed(digits));

function histogramTable(h: ReportComponent['summary']['histogram']): string[] {
  const most = Math.max(1, ...h.counts);
  const rows = h.counts.map((c, i) => {
    const bin = `[${fmt(h.edges[i])}, ${fmt(h.edges[i + 1])}${i === h.counts.length - 1 ? ']' : ')'}`;
    return `| \`${bin}\` | ${c} | ${'█'.repeat(Math.round((c / most) * 30))} |`;
  });
  return ['| bin | rows | |', '|---|--:|---|', ...rows];
}

/** `config` names the run config in the title; links to skipped rows open `report.file` at their line. */
export function reportMarkdown(report: ReportJson, config: string, fileUri: (line: number) => string): string {
  const out: string[] = [`# Reward report: ${escapeMarkdown(config)}`, ''];
  const of = report.skipped.length
    ? ` (of ${report.of}; ${report.skipped.length} could not be scored, [listed below](#rows-not-scored))`
    : '';
  out.push(`reward report: ${report.rows} rows of ${escapeMarkdown(report.dataPath)}${of}`, '');
  for (const c of report.components) {
    const corr = Object.entries(c.correlations).map(([k, v]) => `${k} ${num(v, 2)}`).join(', ');
    const stats = `mean ${num(c.summary.mean, 3)}, min ${num(c.summary.min, 3)}, max ${num(c.summary.max, 3)}`;
    out.push(`## ${escapeMarkdown(c.name)}`, '');
    const share = `share of the total ${(100 * c.shareOfTotal).toFixed(1)}%`;
    out.push(`${c.name} (weight ${c.weight}, range [${c.range.join(', ')}]): ${stats}; ${share}`);
    out.push('', `  correlation with length ${num(c.lengthCorrelation, 2)}${corr ? `; with ${corr}` : ''}`, '');
    for (const w of c.warnings) out.push(`> **warning:** ${c.name} ${w}`, '');
    out.push(...histogramTable(c.summary.histogram), '');
  }
  if (report.skipped.length) {
    out.push(`## Rows not scored`, '', `${report.skipped.length} row(s) of ${escapeMarkdown(report.dataPath)} could not be scored `
      + '(not in the numbers above):', '', '| line | row | reason |', '|--:|---|---|');
    for (const s of report.skipped) {
      const why = s.errors.map((e) => escapeMarkdown(e.message)).join('; ');
      out.push(`| [${s.line}](${fileUri(s.line)}) | ${escapeMarkdown(s.rowId)} | ${why} |`);
    }
    out.push('');
  }
  return out.join('\n');
}
