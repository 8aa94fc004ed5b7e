import test from 'ava';
import { PassThrough } from 'node:stream';
import { formatBytes, progressFor } from '../src/progress.ts';

function capture(isTTY: boolean) {
  const out = new PassThrough() as PassThrough & { isTTY?: boolean; columns?: number };
  out.isTTY = isTTY;
  out.columns = 100;
  let text = '';
  out.on('data', (b: Buffer) => { text += b.toString(); });
  return { out, text: () => text };
}

test('a terminal gets one redrawn bar per layer', (t) => {
  const c = capture(true);
  const p = progressFor(c.out);
  p.start('aaaa', 'aaaa', 1000);
  p.start('bbbb', 'bbbb', 2000);
  p.advance('aaaa', 500);
  p.finish('bbbb', 'pushed');
  p.close();
  const s = c.text();
  t.regex(s, /aaaa \[=+ +\] 500 B\/1000 B/);
  t.regex(s, /bbbb pushed/);
  t.regex(s, /\x1b\[2A/, 'cursor moves up over the two bars to redraw them');
});

test('a pipe gets plain lines, one per finished transfer', (t) => {
  const c = capture(false);
  const p = progressFor(c.out);
  p.start('aaaa', 'aaaa', 3 << 20);
  p.advance('aaaa', 3 << 20);
  p.finish('aaaa', 'downloaded');
  p.note('done');
  p.close();
  t.regex(c.text(), /^aaaa: downloaded \(3\.0 MiB in \d+\.\ds\)\ndone\n$/);
  t.notRegex(c.text(), /\x1b/);
  t.is(formatBytes(1536), '1.5 KiB');
});
