import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deflateSync } from 'node:zlib';
import { chartSpecs, chartsMarkdown, markdownToHtml, renderCharts, renderHtml, svgToPng } from '../../reports';
import { decodePng, pngInfo, pngIsBlank } from '../helpers/png';
import type { Chart, ChartInputs } from '../../reports';

const classNames = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress'];

const inputs: ChartInputs = {
  title: 'mnist-small',
  curves: ['teacher', 'baseline', 'student-T20'].flatMap((model, m) =>
    [1, 2, 3, 4, 5].map((epoch) => ({
      model,
      epoch,
      loss: 2 / (epoch + m),
      trainAccuracy: 0.8 + 0.03 * epoch - 0.01 * m,
    })),
  ),
  tradeoff: [
    { model: 'teacher', role: 'teacher', errorRate: 0.012, p50Ms: 2.1 },
    { model: 'baseline', role: 'baseline', errorRate: 0.02, p50Ms: 0.3 },
    { model: 'student-T20', role: 'student', errorRate: 0.015, p50Ms: 0.31 },
  ],
  confusions: [
    {
      model: 'teacher',
      classNames,
      matrix: [
        [95, 3, 1, 1],
        [0, 99, 0, 1],
        [4, 0, 90, 6],
        [2, 1, 0, 97],
      ],
    },
    {
      model: 'student-T20',
      classNames,
      matrix: [
        [90, 5, 3, 2],
        [1, 97, 1, 1],
        [6, 0, 88, 6],
        [3, 2, 0, 95],
      ],
    },
  ],
  temperatureSweep: [1, 2, 4, 8, 20].flatMap((temperature) =>
    [0.5, 0.9].map((alpha) => ({
      temperature,
      alpha,
      errors: Math.round(150 - 40 * Math.log2(temperature) * alpha + 3 * temperature),
    })),
  ),
  baselineErrors: 146,
  subsets: [
    { specialist: 0, classes: ['3', '5', '8'] },
    { specialist: 1, classes: ['4', '7', '9'] },
    { specialist: 2, classes: ['1', '7'] },
  ],
  coverage: [
    { specialistsCovering: '0', examples: 350, deltaCorrect: 0, relativeChange: 0 },
    { specialistsCovering: '1', examples: 9000, deltaCorrect: 40, relativeChange: 0.0045 },
    { specialistsCovering: '2', examples: 600, deltaCorrect: 12, relativeChange: 0.021 },
    { specialistsCovering: '3 or more', examples: 50, deltaCorrect: -1, relativeChange: -0.02 },
  ],
};

let rendered: Promise<Chart[]> | undefined;
const charts = (): Promise<Chart[]> => (rendered ??= renderCharts(inputs));

test('renderCharts draws every chart kind as a non-blank PNG of a reasonable size', async () => {
  const all = await charts();
  assert.deepEqual(
    all.map((c) => c.name),
    [
      'training-curves',
      'error-vs-latency',
      'confusion-teacher',
      'confusion-student-t20',
      'temperature-sweep',
      'specialist-subsets',
      'coverage',
    ],
  );
  for (const c of all) {
    const { width, height } = pngInfo(c.png);
    assert.ok(width >= 200 && width <= 4000, `${c.name}: width ${width}`);
    assert.ok(height >= 100 && height <= 4000, `${c.name}: height ${height}`);
    assert.ok(c.png.length > 1000, `${c.name}: ${c.png.length} bytes`);
    assert.equal(pngIsBlank(c.png), false, `${c.name} is blank`);
    const svgSize = /<svg[^>]* width="(\d+)" height="(\d+)"/.exec(c.svg);
    assert.ok(svgSize, `${c.name}: no svg size`);
    assert.equal(width, Number(svgSize[1]));
    assert.equal(height, Number(svgSize[2]));
    // A white background (first pixel) under ink somewhere else.
    const img = decodePng(c.png);
    assert.equal(img.channels, 4);
    assert.deepEqual([...img.data.subarray(0, 4)], [255, 255, 255, 255], `${c.name}: background`);
  }
});

test('chart SVGs carry the data they plot', async () => {
  const byName = new Map((await charts()).map((c) => [c.name, c.svg]));
  const has = (name: string, text: string): void => {
    const svg = byName.get(name) ?? assert.fail(`no chart ${name}`);
    assert.ok(svg.includes(text), `${name}: no ${JSON.stringify(text)} in the SVG`);
  };
  for (const model of ['teacher', 'baseline', 'student-T20']) has('training-curves', `>${model}</text>`);
  has('training-curves', '>loss (own objective)<');
  has('training-curves', '>training accuracy<');
  has('training-curves', 'not comparable across roles');
  has('error-vs-latency', '>latency at batch 1, native backend, p50 (ms, log scale)<');
  for (const model of ['teacher', 'baseline', 'student-T20']) has('error-vs-latency', `>${model}</text>`);
  has('confusion-teacher', '>Confusion matrix: teacher<');
  has('confusion-teacher', '>T-shirt/top<');
  has('confusion-teacher', '>99</text>'); // cell counts are drawn
  has('confusion-teacher', '19 errors of 400');
  has('confusion-student-t20', '30 errors of 400');
  has('temperature-sweep', '>hard-label baseline: 146<');
  has('temperature-sweep', '>temperature T<');
  has('specialist-subsets', '>specialist 2<');
  has('specialist-subsets', '3 specialists covering 7 classes');
  has('coverage', '>3 or more<');
  has('coverage', '>+40</text>');
});

test('training curves are small multiples: a loss and an accuracy panel per model', () => {
  const curves = chartSpecs(inputs).find((c) => c.name === 'training-curves')!.spec as unknown as {
    columns: number;
    concat: { title: { text: string }; vconcat: { transform: { filter: { equal: string } }[] }[] }[];
  };
  assert.deepEqual(
    curves.concat.map((p) => p.title.text),
    ['teacher', 'baseline', 'student-T20'],
  );
  for (const p of curves.concat)
    assert.deepEqual(
      p.vconcat.map((panel) => panel.transform[0]!.filter.equal),
      [p.title.text, p.title.text],
    );
  assert.equal(curves.columns, 3);
});

test('empty inputs give no charts', async () => {
  assert.deepEqual(await renderCharts({ title: 'nothing', curves: [], confusions: [] }), []);
});

test('pngIsBlank is true for a blank render, so the check can fail', () => {
  const white = svgToPng(
    '<svg xmlns="http://www.w3.org/2000/svg" width="320" height="200">' +
      '<rect width="320" height="200" fill="white"/></svg>',
  );
  assert.deepEqual(pngInfo(white), { width: 320, height: 200 });
  assert.equal(pngIsBlank(white), true);
  const empty = svgToPng('<svg xmlns="http://www.w3.org/2000/svg" width="300" height="150"></svg>');
  assert.equal(pngIsBlank(empty), true);
  const dot = svgToPng(
    '<svg xmlns="http://www.w3.org/2000/svg" width="300" height="150">' +
      '<rect width="300" height="150" fill="white"/><rect x="150" y="75" width="1" height="1" fill="black"/></svg>',
  );
  assert.equal(pngIsBlank(dot), false);
  assert.throws(() => pngInfo(new Uint8Array(40)), /not a PNG/);
});

/** A PNG written by hand with the given filter type on every row (resvg may not use them all). */
function handPng(
  width: number,
  height: number,
  channels: 3 | 4,
  pixel: (x: number, y: number, k: number) => number,
  filter: (y: number) => number,
): Uint8Array {
  const stride = width * channels;
  const px = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let k = 0; k < channels; k++) px[y * stride + x * channels + k] = pixel(x, y, k);
  const raw = new Uint8Array(height * (stride + 1));
  const paeth = (a: number, b: number, c: number): number => {
    const p = a + b - c;
    const pa = Math.abs(p - a),
      pb = Math.abs(p - b),
      pc = Math.abs(p - c);
    return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
  };
  for (let y = 0; y < height; y++) {
    const f = filter(y);
    raw[y * (stride + 1)] = f;
    for (let i = 0; i < stride; i++) {
      const v = px[y * stride + i]!;
      const a = i >= channels ? px[y * stride + i - channels]! : 0;
      const b = y > 0 ? px[(y - 1) * stride + i]! : 0;
      const c = i >= channels && y > 0 ? px[(y - 1) * stride + i - channels]! : 0;
      const pred = [0, a, b, (a + b) >> 1, paeth(a, b, c)][f]!;
      raw[y * (stride + 1) + 1 + i] = (v - pred) & 0xff;
    }
  }
  const chunk = (type: string, data: Uint8Array): Buffer => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, 'ascii');
    return Buffer.concat([head, data, Buffer.alloc(4)]); // CRC unchecked by the decoder
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = channels === 4 ? 6 : 2;
  const z = deflateSync(raw);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', z.subarray(0, 10)),
    chunk('IDAT', z.subarray(10)),
    chunk('IEND', new Uint8Array()),
  ]);
}

test('decodePng undoes PNG filter types 0-4 (RGB and RGBA)', () => {
  const pixel = (x: number, y: number, k: number): number => (x * 37 + y * 91 + k * 53 + ((x * y) % 7) * 29) & 0xff;
  for (const channels of [3, 4] as const) {
    for (const f of [0, 1, 2, 3, 4]) {
      const png = handPng(13, 9, channels, pixel, (y) => (y === 0 ? f : (f + y) % 5));
      const img = decodePng(png);
      assert.equal(img.channels, channels);
      assert.deepEqual({ w: img.width, h: img.height }, { w: 13, h: 9 });
      for (let y = 0; y < 9; y++)
        for (let x = 0; x < 13; x++)
          for (let k = 0; k < channels; k++)
            assert.equal(img.data[(y * 13 + x) * channels + k], pixel(x, y, k), `filter ${f} at ${x},${y},${k}`);
      assert.equal(pngIsBlank(png), false);
    }
    assert.equal(
      pngIsBlank(
        handPng(
          8,
          8,
          channels,
          (_x, _y, k) => 100 + k,
          (y) => y % 5,
        ),
      ),
      true,
    );
  }
});

test('renderHtml embeds every chart as a PNG data: URI and references nothing external', async () => {
  const all = await charts();
  const md = [
    '# chrysalis run wf-123',
    '',
    '> **WARNING: trained on the WASM fallback backend.** Run `npm run setup`.',
    '',
    'Preset **quick**, seed 7.',
    '',
    '| model | errors | note |',
    '|---|---|---|',
    '| teacher | 23 / 400 | a \\| b <x> |',
    '| student | 31 / 400 | |',
    '',
    chartsMarkdown(all.filter((c) => c.name === 'temperature-sweep')),
  ].join('\n');
  const html = renderHtml('chrysalis run wf-123', md, all);
  assert.equal(html.match(/src="data:image\/png;base64,/g)?.length, all.length);
  for (const c of all)
    assert.ok(html.includes(`data:image/png;base64,${Buffer.from(c.png).toString('base64')}`), c.name);
  assert.doesNotMatch(html, /https?:\/\//);
  assert.doesNotMatch(html, /<script|<link|url\(/i);
  assert.match(html, /<title>chrysalis run wf-123<\/title>/);
  assert.match(html, /<h1>chrysalis run wf-123<\/h1>/);
  assert.match(html, /<th>model<\/th><th>errors<\/th><th>note<\/th>/);
  assert.match(html, /<td>a \| b &lt;x&gt;<\/td>/);
  assert.match(
    html,
    new RegExp(
      '<blockquote><p><strong>WARNING: trained on the WASM fallback backend.</strong> ' +
        'Run <code>npm run setup</code>.</p></blockquote>',
    ),
  );
  // The chart placed by the Markdown is shown there, the others in the closing section.
  assert.ok(html.indexOf('id="temperature-sweep"') < html.indexOf('<h2>More charts</h2>'));
  assert.ok(html.indexOf('id="training-curves"') > html.indexOf('<h2>More charts</h2>'));
  assert.equal(html.match(/<figure /g)?.length, all.length);
});

test('markdownToHtml escapes and never emits other files', () => {
  assert.equal(markdownToHtml('![a chart](charts/missing.png)'), '<p><em>[a chart]</em></p>');
  assert.equal(markdownToHtml('x <b> & `a<b>` *y*'), '<p>x &lt;b&gt; &amp; <code>a&lt;b&gt;</code> <em>y</em></p>');
  assert.equal(markdownToHtml('## Per-class\n- one\n- two'), '<h2>Per-class</h2>\n<ul><li>one</li><li>two</li></ul>');
});
