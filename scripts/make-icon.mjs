#!/usr/bin/env node
// Draws media/icon.png, the extension's 128x128 icon, and writes it as a PNG by hand (node:zlib for the
// deflate stream, CRC-32 below): an advantage histogram — grey bars left of the A = 0 line are the rows
// A-LoL filters out, green bars right of it the rows it keeps — under a rising reward curve, on a dark
// rounded square. 4x4 supersampling for smooth edges. Run: node scripts/make-icon.mjs
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';

const SIZE = 128;
const SS = 4;
const out = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'media', 'icon.png');

const BG = [0x1e, 0x29, 0x3b];
const GREY = [0x64, 0x74, 0x8b];
const GREEN = [0x34, 0xd3, 0x99];
const LINE = [0xf8, 0xfa, 0xfc];
const ZERO = [0xfb, 0xbf, 0x24];

/** Bars [x0, x1, top] in icon pixels, bottom at y = 100. */
const BARS = [[18, 32, 84, GREY], [35, 49, 70, GREY], [60, 74, 52, GREEN], [77, 91, 40, GREEN], [94, 108, 58, GREEN]];
/** The reward curve: a polyline. */
const CURVE = [[16, 58], [34, 52], [50, 40], [66, 30], [84, 24], [112, 14]];

const insideRounded = (x, y, r = 26) => {
  const cx = Math.min(Math.max(x, r), SIZE - r);
  const cy = Math.min(Math.max(y, r), SIZE - r);
  return (x - cx) ** 2 + (y - cy) ** 2 <= r * r;
};
const distToSegment = (px, py, [ax, ay], [bx, by]) => {
  const t = Math.max(0, Math.min(1, ((px - ax) * (bx - ax) + (py - ay) * (by - ay)) / ((bx - ax) ** 2 + (by - ay) ** 2)));
  return Math.hypot(px - (ax + t * (bx - ax)), py - (ay + t * (by - ay)));
};

/** The colour at a point, or null (transparent). */
function colourAt(x, y) {
  if (!insideRounded(x, y)) return null;
  for (let k = 0; k < CURVE.length - 1; k++) if (distToSegment(x, y, CURVE[k], CURVE[k + 1]) <= 3.2) return LINE;
  if (x >= 55.5 && x <= 57.5 && y >= 20 && y <= 106 && Math.floor(y / 6) % 2 === 0) return ZERO; // the A = 0 line, dashed
  for (const [x0, x1, top, c] of BARS) if (x >= x0 && x <= x1 && y >= top && y <= 100) return c;
  if (y >= 102 && y <= 105 && x >= 14 && x <= 114) return GREY; // the axis
  return BG;
}

const rgba = Buffer.alloc(SIZE * (SIZE * 4 + 1));
for (let y = 0; y < SIZE; y++) {
  rgba[y * (SIZE * 4 + 1)] = 0; // filter: none
  for (let x = 0; x < SIZE; x++) {
    let r = 0, g = 0, b = 0, a = 0;
    for (let sy = 0; sy < SS; sy++) {
      for (let sx = 0; sx < SS; sx++) {
        const c = colourAt(x + (sx + 0.5) / SS, y + (sy + 0.5) / SS);
        if (!c) continue;
        r += c[0]; g += c[1]; b += c[2]; a++;
      }
    }
    const o = y * (SIZE * 4 + 1) + 1 + x * 4;
    rgba[o] = a ? Math.round(r / a) : 0;
    rgba[o + 1] = a ? Math.round(g / a) : 0;
    rgba[o + 2] = a ? Math.round(b / a) : 0;
    rgba[o + 3] = Math.round((255 * a) / (SS * SS));
  }
}

const CRC = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
const crc32 = (buf) => {
  let c = 0xffffffff;
  for (const byte of buf) c = CRC[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
};
const chunk = (type, data) => {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
};
const ihdr = Buffer.alloc(13);
ihdr.writeUInt32BE(SIZE, 0);
ihdr.writeUInt32BE(SIZE, 4);
ihdr[8] = 8; // bit depth
ihdr[9] = 6; // RGBA
const png = Buffer.concat([
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  chunk('IHDR', ihdr),
  chunk('IDAT', deflateSync(rgba, { level: 9 })),
  chunk('IEND', Buffer.alloc(0)),
]);
fs.writeFileSync(out, png);
console.log(`wrote ${path.relative(process.cwd(), out)} (${png.length} bytes)`);
