import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ConfigError,
  applySetters,
  distillationPresets,
  formatIssues,
  loadEnv,
  resolveDistillationInput,
} from '../../config';

const baseEnv = { MINIO_ACCESS_KEY: 'chrysalis', MINIO_SECRET_KEY: 'super-secret-value' };

test('environment: defaults apply and a bad variable is named in the error', () => {
  const env = loadEnv(baseEnv);
  assert.equal(env.TEMPORAL_ADDRESS, '127.0.0.1:7233');
  assert.equal(env.CHRYSALIS_COMPUTE_QUEUE, 'chrysalis-compute');
  assert.throws(
    () => loadEnv({ ...baseEnv, TEMPORAL_ADDRESS: 'no-port' }),
    (e: unknown) => e instanceof ConfigError && /TEMPORAL_ADDRESS: expected host:port/.test(e.message),
  );
  assert.throws(() => loadEnv({ ...baseEnv, CHRYSALIS_BACKEND: 'gpu-please' }), /CHRYSALIS_BACKEND/);
  assert.throws(() => loadEnv({ MINIO_ACCESS_KEY: 'chrysalis' }), /MINIO_SECRET_KEY: required/);
});

test('environment errors never echo a secret value', () => {
  assert.throws(
    () => loadEnv({ MINIO_ACCESS_KEY: 'chrysalis', MINIO_SECRET_KEY: 'short' }),
    (e: unknown) => {
      const msg = (e as Error).message;
      return /MINIO_SECRET_KEY/.test(msg) && !msg.includes('short"') && msg.includes('[REDACTED]');
    },
  );
});

function issues(raw: unknown): string {
  const r = resolveDistillationInput(raw);
  assert.equal(r.ok, false, 'expected invalid input');
  return r.ok ? '' : formatIssues(r.issues);
}

test('every distillation preset named in the docs resolves to a valid config', () => {
  const names = Object.keys(distillationPresets);
  for (const name of [
    'mnist-quick',
    'mnist-paper',
    'mnist-tiny-sweep',
    'mnist-omit-3',
    'mnist-only-7-8',
    'mnist-transfer-3pct',
    'mnist-beat-paper',
  ])
    assert.ok(names.includes(name), name);
  for (const name of names) {
    const r = resolveDistillationInput({ preset: name });
    assert.ok(r.ok, `${name}: ${r.ok ? '' : formatIssues(r.issues)}`);
    assert.equal(r.config.name, name);
  }
});

test('presets resolve, with overrides merged', () => {
  const r = resolveDistillationInput({
    preset: 'mnist-quick',
    overrides: { students: [{ temperature: 4, alpha: 0.5 }], student: { train: { epochs: 2 } } },
  });
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.deepEqual(r.config.students, [{ temperature: 4, alpha: 0.5 }]);
  assert.equal(r.config.student.train.epochs, 2);
  assert.equal(r.config.student.train.batchSize, 128, 'defaults filled in');
  assert.equal(r.config.data.dataset, 'mnist');
});

test('invalid inputs name the field and the expectation', () => {
  assert.equal(
    issues({ preset: 'mnist-nope' }),
    'invalid input: preset: unknown preset "mnist-nope"; expected one of: ' +
      'mnist-quick, mnist-paper, mnist-paper-recipe, mnist-paper-recipe-online, mnist-tiny-sweep, mnist-omit-3, mnist-only-7-8, mnist-transfer-3pct, ' +
      'mnist-beat-paper',
  );
  assert.match(
    issues({ preset: 'mnist-quick', overrides: { student: { train: { epochs: -3 } } } }),
    /student\.train\.epochs: Too small: expected number to be >0/,
  );
  assert.match(
    issues({ preset: 'mnist-quick', overrides: { students: [{ temperature: 0, alpha: 0.5 }] } }),
    /students\.0\.temperature: T must be > 0/,
  );
  assert.match(
    issues({ preset: 'mnist-quick', overrides: { students: [{ temperature: 2, alpha: 1.5 }] } }),
    /students\.0\.alpha: alpha must be in \[0, 1\]/,
  );
  assert.match(
    issues({ preset: 'mnist-quick', overrides: { transfer: { kind: 'excludeClasses', classes: [3, 12] } } }),
    /transfer\.classes\.1: unknown class id 12: mnist has classes 0-9/,
  );
  assert.match(
    issues({ preset: 'mnist-quick', overrides: { seed: 'seven' } }),
    /seed: Invalid input: expected number, received string/,
  );
  assert.match(
    issues({ preset: 'mnist-quick', overrides: { data: { dataset: 'cifar' } } }),
    /data\.dataset: Invalid option: expected one of "mnist"\|"fashion-mnist"\|"mnist\+fashion"/,
  );
  assert.match(issues({ config: { data: { dataset: 'mnist' } } }), /config\.teachers/);
  assert.match(issues({}), /give exactly one of "preset"/);
  assert.match(
    issues({ preset: 'mnist-quick', overrides: { data: { dataset: 'idx' } } }),
    /data\.idx: give data\.idx \(the four IDX files\) exactly when data\.dataset is "idx"/,
  );
  assert.match(
    issues({
      preset: 'mnist-paper-recipe',
      overrides: { teachers: { train: { optimizer: { momentum: 0.9, momentumRamp: { from: 0.95 } } } } },
    }),
    /teachers\.train\.optimizer\.momentumRamp\.from: momentumRamp\.from must not exceed momentum/,
  );
  assert.match(issues({ preset: 'mnist-quick', bogus: 1 }), /^invalid input: bogus: unknown key \(not allowed here\)$/);
});

test('--set style assignments build nested overrides', () => {
  assert.deepEqual(applySetters({ a: { b: 1, c: 2 } }, ['a.b=5', 'd=hello', 'e=[1,2]']), {
    a: { b: 5, c: 2 },
    d: 'hello',
    e: [1, 2],
  });
  assert.throws(() => applySetters({}, ['novalue']), /key=value/);
});

test('export.quantize: optional, each of float16 and uint8 at most once; anything else names the entry', () => {
  const quick = (overrides: Record<string, unknown>) => ({ preset: 'mnist-quick', overrides });
  const none = resolveDistillationInput(quick({}));
  assert.ok(none.ok);
  assert.equal(none.ok && none.config.export, undefined, 'no quantised exports unless asked');
  const both = resolveDistillationInput(quick({ export: { quantize: ['uint8', 'float16'] } }));
  assert.ok(both.ok);
  assert.deepEqual(both.ok && both.config.export, { quantize: ['uint8', 'float16'] });
  const empty = resolveDistillationInput(quick({ export: {} }));
  assert.deepEqual(empty.ok && empty.config.export, { quantize: [] });
  assert.equal(
    issues(quick({ export: { quantize: ['uint8', 'int4'] } })),
    'invalid input: export.quantize.1: Invalid option: expected one of "float16"|"uint8"',
  );
  assert.equal(
    issues(quick({ export: { quantize: ['uint8', 'uint8'] } })),
    'invalid input: export.quantize: each quantisation at most once',
  );
  assert.equal(
    issues(quick({ export: { quantize: 'uint8' } })),
    'invalid input: export.quantize: Invalid input: expected array, received string',
  );
  assert.match(issues(quick({ export: { quantise: ['uint8'] } })), /^invalid input: export\.quantise: unknown key/);
});

test('online students need teachers to run: imported teachers or stored soft targets are refused by name', () => {
  const config = {
    data: { dataset: 'mnist' },
    teachers: { softTargets: { key: 'abc123' } },
    student: { model: { kind: 'mlp', hidden: [8] }, train: { epochs: 1 } },
    students: [
      { temperature: 2, alpha: 0.5 },
      { temperature: 2, alpha: 0.5, online: true },
    ],
  };
  assert.equal(
    issues({ config }),
    'invalid input: config.students.1.online: online distillation runs the teachers in training: ' +
      'give teachers as "count" or "refs"',
  );
});
