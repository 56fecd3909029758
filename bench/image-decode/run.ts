/**
 * bench/image-decode: what importing one image of an image folder costs (ml/images.ts `decodeImage`: PNG decode,
 * resize when the size differs, rounding to uint8), per image, median of 20 after 3 warm-ups.
 *
 *   npx tsc -p . && node dist/bench/image-decode/run.js
 */
import * as tf from '@tensorflow/tfjs-node';
import { initBackend } from '../../ml';
import { decodeImage } from '../../data/images';
import { describeMachine, machineInfo } from '../../ml/machine';

async function main(): Promise<void> {
  await initBackend({ requested: 'tensorflow' });
  console.log(`machine: ${describeMachine(machineInfo())}`);
  const random = tf.randomUniform<tf.Rank.R3>([256, 256, 3], 0, 255, 'int32');
  const png = await tf.node.encodePng(random);
  random.dispose();
  const cases: [readonly [number, number, number], string][] = [
    [[256, 256, 3], 'same size'],
    [[224, 224, 3], 'resized'],
    [[28, 28, 1], 'resized, grey'],
  ];
  for (const [shape, label] of cases) {
    for (let i = 0; i < 3; i++) decodeImage(png, shape);
    const ms: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      decodeImage(png, shape);
      ms.push(performance.now() - t0);
    }
    ms.sort((a, b) => a - b);
    console.log(`256×256 RGB PNG → ${shape.join('×')} (${label}): ${ms[10]!.toFixed(2)} ms per image`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
