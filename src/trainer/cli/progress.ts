// Progress bars for long CLI work (cli-progress, on stderr so stdout stays clean for data). On a
// terminal the bar redraws in place; elsewhere (CI logs, pipes) it prints a line every ~10%.

import { SingleBar } from 'cli-progress';

export interface Progress {
  update(done: number, info?: Record<string, string>): void;
  stop(): void;
}

export function progressBar(label: string, total: number, fields: Record<string, string> = {}): Progress {
  if (process.stderr.isTTY) {
    const bar = new SingleBar(
      {
        format: `${label} |{bar}| {value}/{total} {percentage}% | eta {eta_formatted}${Object.keys(fields).map((k) => ` | {${k}}`).join(
          '',
        )}`,
        stream: process.stderr,
        hideCursor: true,
        clearOnComplete: false,
        etaBuffer: 50,
      },
    );
    bar.start(total, 0, fields);
    return { update: (done, info) => bar.update(done, info), stop: () => bar.stop() };
  }
  let lastDecile = -1;
  const started = Date.now();
  return {
    update(done, info) {
      const decile = Math.floor((10 * done) / Math.max(1, total));
      if (decile === lastDecile && done < total) return;
      lastDecile = decile;
      const extra = Object.entries({ ...fields, ...info }).map(([k, v]) => ` ${k} ${v}`).join('');
      process.stderr.write(
        `${label} ${done}/${total} (${Math.round((100 * done) / Math.max(1, total))}%, ` +
          `${((Date.now() - started) / 1000).toFixed(1)} s)${extra}\n`,
      );
    },
    stop() {},
  };
}
