/**
 * infra/deploy cannot run here (no Docker daemon, no cluster), so its files are checked by parsing:
 * every variable they give a chrysalis process is a key of envSchema (a typo would otherwise be
 * ignored silently and the default used), no secret is written into them, GPU workers reserve one
 * GPU and are given longer than the worker's 2-minute shutdown grace. Plus the multi-GPU launcher.
 * Each check collects problems as text, so a failure lists all of them, and the last test feeds the
 * checks broken manifests to show they catch what they are for.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { envSchema, repoRoot } from '../../config/env';

const deployDir = path.join(repoRoot, 'infra', 'deploy');
const k8sDir = path.join(deployDir, 'k8s');
const launcher = path.join(repoRoot, 'infra', 'multi-gpu.sh');
const schemaVars = new Set(Object.keys(envSchema.shape));

/** Read by libraries or the container runtime, not by config/env.ts; chrysalis processes may get them. */
const LIBRARY_VARS = new Set([
  'CUDA_VISIBLE_DEVICES', // CUDA: the GPUs a process sees (multi-gpu.sh: one per worker)
  'CUDA_DEVICE_ORDER', // CUDA: PCI_BUS_ID makes CUDA's GPU indices match nvidia-smi's
  'NVIDIA_VISIBLE_DEVICES', // NVIDIA container toolkit: the GPUs mounted into a container
  'NVIDIA_DRIVER_CAPABILITIES', // NVIDIA container toolkit: driver parts mounted (compute = libcuda)
  'TF_CPP_MIN_LOG_LEVEL', // TensorFlow C++ logging
  'TF_NUM_INTRAOP_THREADS', // TensorFlow's thread pool size (ml/backend.ts reports it)
  'NODE_ENV', // Node.js convention, set in the image
]);

/** Third-party images in the compose stack (repository without tag) and the variables of theirs it sets. */
const THIRD_PARTY_VARS: Record<string, readonly string[]> = {
  postgres: ['POSTGRES_USER', 'POSTGRES_PASSWORD'],
  // Temporal's database connection (auto-setup creates the schema with it).
  'temporalio/auto-setup': ['DB', 'DB_PORT', 'POSTGRES_SEEDS', 'POSTGRES_USER', 'POSTGRES_PWD'],
  'temporalio/admin-tools': ['TEMPORAL_ADDRESS'], // the temporal CLI's server
  'temporalio/ui': ['TEMPORAL_ADDRESS'],
  'chrysalis-minio': ['MINIO_ROOT_USER', 'MINIO_ROOT_PASSWORD'], // MinIO server, built from source by our Dockerfile
};

/** Names whose values are credentials: they must come from outside the committed files. */
const SECRET_NAME = /SECRET|PASSWORD|PWD|TOKEN|ACCESS_KEY|ROOT_USER/;
/** A compose value that must be supplied (`${NAME:?message}`): no default, no literal. */
const REQUIRED_INTERPOLATION = /^\$\{[A-Z0-9_]+:\?[^}]*\}$/;
/** The worker's shutdownGraceTime (workers/compute-worker.ts) plus margin. */
const MIN_COMPUTE_GRACE_S = 150;

// ------------------------------------------------------------------ shapes of what we read

interface Device {
  driver?: string;
  count?: number | string;
  device_ids?: string[];
  capabilities?: string[];
}
interface ComposeService {
  image?: string;
  profiles?: string[];
  build?: unknown;
  environment?: Record<string, string | number | boolean | null> | string[];
  stop_grace_period?: string;
  deploy?: { resources?: { reservations?: { devices?: Device[] } } };
}
interface Compose {
  services: Record<string, ComposeService>;
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: unknown;
}
interface Container {
  name: string;
  command?: string[];
  env?: EnvVar[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  resources?: { limits?: Record<string, string | number> };
}
interface PodSpec {
  containers: Container[];
  terminationGracePeriodSeconds?: number;
}
interface K8sObject {
  kind: string;
  metadata?: { name: string };
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  spec?: { template?: { spec: PodSpec } };
  resources?: string[];
}

function yamlDocs(text: string, where: string): unknown[] {
  return Array.from(parseAllDocuments(text, { merge: true }), (doc) => {
    assert.deepEqual(
      doc.errors.map((e) => e.message),
      [],
      `${where}: YAML errors`,
    );
    return doc.toJS() as unknown;
  }).filter((d) => d !== null && d !== undefined);
}

const readDeploy = (rel: string): string => readFileSync(path.join(deployDir, rel), 'utf8');
const loadCompose = (): Compose => yamlDocs(readDeploy('docker-compose.yml'), 'docker-compose.yml')[0] as Compose;
const k8sFiles = (): string[] =>
  readdirSync(k8sDir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort();
function loadK8s(): { file: string; obj: K8sObject }[] {
  return k8sFiles().flatMap((file) =>
    yamlDocs(readFileSync(path.join(k8sDir, file), 'utf8'), `k8s/${file}`).map((obj) => ({
      file,
      obj: obj as K8sObject,
    })),
  );
}

function composeEnv(service: ComposeService): Map<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) {
    return new Map(
      env.map((kv): [string, string] =>
        kv.includes('=') ? [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] : [kv, ''],
      ),
    );
  }
  return new Map(Object.entries(env).map(([k, v]) => [k, v === null ? '' : String(v)]));
}

/** `postgres:16.10` → `postgres`; `registry:5000/a/b:tag` → `registry:5000/a/b`. */
function imageRepo(image: string): string {
  const colon = image.lastIndexOf(':');
  return colon > image.lastIndexOf('/') ? image.slice(0, colon) : image;
}
const isChrysalis = (s: ComposeService): boolean => s.image !== undefined && imageRepo(s.image) === 'chrysalis';

/** Compose durations: `150s`, `2m30s`, `1h`. */
function durationSeconds(d: string): number {
  const unit: Record<string, number> = { h: 3600, m: 60, s: 1 };
  const parts = [...d.matchAll(/(\d+(?:\.\d+)?)(h|m|s)/g)];
  assert.equal(parts.map((p) => p[0]).join(''), d, `unsupported duration "${d}"`);
  return parts.reduce((sum, p) => sum + Number(p[1]) * unit[p[2]!]!, 0);
}

// ------------------------------------------------------------------ checks (each returns problems)

function schemaProblem(name: string, where: string): string[] {
  return schemaVars.has(name) || LIBRARY_VARS.has(name)
    ? []
    : [`${where}: ${name} is not a key of envSchema (config/env.ts) nor an allow-listed library variable`];
}

function composeEnvProblems(compose: Compose): string[] {
  return Object.entries(compose.services).flatMap(([name, svc]) => {
    assert.ok(svc.image, `compose service ${name}: give it an image (a pinned tag, or the tag its build produces)`);
    const env = [...composeEnv(svc).keys()];
    if (isChrysalis(svc)) return env.flatMap((k) => schemaProblem(k, `compose ${name}`));
    const allowed = THIRD_PARTY_VARS[imageRepo(svc.image)];
    if (!allowed)
      return [`compose ${name}: image ${svc.image} is not in THIRD_PARTY_VARS; list the variables it takes`];
    return env
      .filter((k) => !allowed.includes(k))
      .map((k) => `compose ${name}: ${k} is not a variable of ${imageRepo(svc.image!)} (THIRD_PARTY_VARS)`);
  });
}

function composeSecretProblems(compose: Compose): string[] {
  return Object.entries(compose.services).flatMap(([name, svc]) =>
    [...composeEnv(svc)]
      .filter(([k, v]) => SECRET_NAME.test(k) && !REQUIRED_INTERPOLATION.test(v))
      .map(([k]) => `compose ${name}: ${k} must be \${${k}:?…} from .env, not a literal or a default`),
  );
}

function composeGpuProblems(compose: Compose): string[] {
  const gpu = Object.entries(compose.services).filter(
    ([, s]) => isChrysalis(s) && composeEnv(s).get('CHRYSALIS_DEVICE') === 'gpu',
  );
  if (gpu.length === 0) return ['compose: no service with CHRYSALIS_DEVICE=gpu'];
  return gpu.flatMap(([name, s]) => {
    const problems: string[] = [];
    const devices = s.deploy?.resources?.reservations?.devices ?? [];
    const nvidia = devices.filter((d) => d.driver === 'nvidia' && d.capabilities?.includes('gpu'));
    const gpus = nvidia.reduce((n, d) => n + (d.device_ids ? d.device_ids.length : Number(d.count)), 0);
    if (nvidia.length !== 1 || gpus !== 1)
      problems.push(
        `compose ${name}: must reserve exactly one GPU (deploy.resources.reservations.devices: ` +
          'driver nvidia, count 1 or one device_id, capabilities [gpu])',
      );
    if (composeEnv(s).get('CHRYSALIS_COMPUTE_SLOTS') !== '1')
      problems.push(`compose ${name}: CHRYSALIS_COMPUTE_SLOTS must be "1" (one activity per GPU)`);
    if (!s.stop_grace_period || durationSeconds(s.stop_grace_period) < MIN_COMPUTE_GRACE_S)
      problems.push(`compose ${name}: stop_grace_period must be >= ${MIN_COMPUTE_GRACE_S}s`);
    return problems;
  });
}

/** The Secret the README's `kubectl create secret generic` command makes: its name and keys. */
function readmeSecret(readme: string): { name: string; keys: string[] } {
  const m = /create secret generic (\S+)((?:[^\n]*\\\n)*[^\n]*)/.exec(readme);
  assert.ok(m, 'README.md: no `kubectl … create secret generic` command');
  return { name: m[1]!, keys: [...m[2]!.matchAll(/--from-literal=([A-Za-z0-9_]+)=/g)].map((k) => k[1]!) };
}

function k8sEnvProblems(
  objects: { file: string; obj: K8sObject }[],
  secret: { name: string; keys: string[] },
): string[] {
  const configMaps = new Map(
    objects.filter(({ obj }) => obj.kind === 'ConfigMap').map(({ obj }) => [obj.metadata!.name, obj]),
  );
  const problems = secret.keys.flatMap((k) => schemaProblem(k, `README secret ${secret.name}`));
  for (const { file, obj } of objects) {
    for (const c of obj.spec?.template?.spec.containers ?? []) {
      const where = `k8s/${file} ${obj.metadata?.name}/${c.name}`;
      for (const e of c.env ?? []) {
        problems.push(...schemaProblem(e.name, where));
        if (SECRET_NAME.test(e.name) && e.value !== undefined)
          problems.push(`${where}: ${e.name} has a literal value; use the Secret`);
      }
      for (const from of c.envFrom ?? []) {
        if (from.configMapRef) {
          const cm = configMaps.get(from.configMapRef.name);
          if (!cm) problems.push(`${where}: envFrom ConfigMap ${from.configMapRef.name} is not in k8s/`);
          for (const k of Object.keys({ ...cm?.data, ...cm?.stringData }))
            problems.push(...schemaProblem(k, `k8s ConfigMap ${from.configMapRef.name}`));
        }
        if (from.secretRef && from.secretRef.name !== secret.name)
          problems.push(
            `${where}: envFrom Secret ${from.secretRef.name} is not the one README.md creates (${secret.name})`,
          );
      }
    }
  }
  return problems;
}

function k8sSecretProblems(objects: { file: string; obj: K8sObject }[]): string[] {
  return objects.flatMap(({ file, obj }) => {
    if (obj.kind === 'Secret') {
      const filled = Object.entries({ ...obj.data, ...obj.stringData }).filter(
        ([, v]) => v !== '' && !/^<[^>]*>$/.test(v),
      );
      return filled.map(([k]) => `k8s/${file}: Secret key ${k} has a value; create the Secret by command (README.md)`);
    }
    if (obj.kind === 'ConfigMap')
      return Object.keys({ ...obj.data, ...obj.stringData })
        .filter((k) => SECRET_NAME.test(k))
        .map((k) => `k8s/${file}: ${k} belongs in the Secret, not a ConfigMap`);
    return [];
  });
}

function k8sComputeProblems(objects: { file: string; obj: K8sObject }[]): string[] {
  const problems: string[] = [];
  let gpuDeployments = 0;
  for (const { file, obj } of objects) {
    const pod = obj.spec?.template?.spec;
    const compute = pod?.containers.filter((c) => c.command?.some((a) => a.includes('compute-worker'))) ?? [];
    if (obj.kind !== 'Deployment' || !pod || compute.length === 0) continue;
    const where = `k8s/${file} ${obj.metadata?.name}`;
    if ((pod.terminationGracePeriodSeconds ?? 30) < MIN_COMPUTE_GRACE_S)
      problems.push(`${where}: terminationGracePeriodSeconds must be >= ${MIN_COMPUTE_GRACE_S}`);
    for (const c of compute) {
      const env = new Map((c.env ?? []).map((e) => [e.name, e.value]));
      if (env.get('CHRYSALIS_DEVICE') !== 'gpu') continue;
      gpuDeployments += 1;
      if (String(c.resources?.limits?.['nvidia.com/gpu']) !== '1')
        problems.push(`${where}: limits nvidia.com/gpu must be 1`);
      if (env.get('CHRYSALIS_COMPUTE_SLOTS') !== '1') problems.push(`${where}: CHRYSALIS_COMPUTE_SLOTS must be "1"`);
    }
  }
  if (gpuDeployments === 0) problems.push('k8s: no compute Deployment with CHRYSALIS_DEVICE=gpu');
  return problems;
}

// ------------------------------------------------------------------ the files in infra/deploy

test('compose: chrysalis services get only envSchema variables; third-party images only their own', () => {
  assert.deepEqual(composeEnvProblems(loadCompose()), []);
});

test('compose: secrets are required ${VAR:?…} from .env, and .env.example fills in none', () => {
  const compose = loadCompose();
  assert.deepEqual(composeSecretProblems(compose), []);
  const example = readDeploy('.env.example');
  const assigned = [...example.matchAll(/^([A-Z0-9_]+)=(.*)$/gm)];
  assert.deepEqual(
    assigned.filter((m) => m[2] !== '').map((m) => m[1]),
    [],
    '.env.example must leave values empty',
  );
  const documented = new Set([...example.matchAll(/^#?\s*([A-Z0-9_]+)=/gm)].map((m) => m[1]));
  const used = new Set([...readDeploy('docker-compose.yml').matchAll(/(?<!\$)\$\{([A-Z0-9_]+)/g)].map((m) => m[1]));
  assert.deepEqual(
    [...used].filter((v) => !documented.has(v)),
    [],
    'every ${VAR} in docker-compose.yml is in .env.example',
  );
  assert.match(readDeploy('.gitignore'), /^\.env$/m, 'infra/deploy/.env (the filled-in copy) is git-ignored');
});

test('compose: GPU compute worker reserves one NVIDIA GPU, takes one activity, outlasts its shutdown grace', () => {
  assert.deepEqual(composeGpuProblems(loadCompose()), []);
  const cpu = loadCompose().services['compute-worker-cpu'];
  assert.ok(
    cpu?.stop_grace_period && durationSeconds(cpu.stop_grace_period) >= MIN_COMPUTE_GRACE_S,
    'CPU compute worker grace too',
  );
});

test('compose: third-party images are pinned to a version', () => {
  const unpinned = Object.entries(loadCompose().services)
    .filter(([, s]) => !s.build && !/:[^/]*\d[^/]*$/.test(s.image ?? ''))
    .map(([name, s]) => `${name}: ${s.image}`);
  assert.deepEqual(unpinned, []);
});

test('k8s: every variable a pod gets (env, envFrom ConfigMap keys, the README Secret keys) is in envSchema', () => {
  assert.deepEqual(k8sEnvProblems(loadK8s(), readmeSecret(readDeploy('README.md'))), []);
});

test('k8s: no credential is written into a manifest', () => {
  assert.deepEqual(k8sSecretProblems(loadK8s()), []);
});

test('k8s: GPU compute pods get one GPU and one slot; compute pods outlast the worker shutdown grace', () => {
  assert.deepEqual(k8sComputeProblems(loadK8s()), []);
});

test('k8s: kustomization.yaml lists every manifest', () => {
  const kustomization = loadK8s().find(({ obj }) => obj.kind === 'Kustomization');
  assert.ok(kustomization, 'k8s/kustomization.yaml');
  assert.deepEqual(
    [...(kustomization.obj.resources ?? [])].sort(),
    k8sFiles().filter((f) => f !== kustomization.file),
  );
});

test('deploy README: its commands name services, profiles, deployments, build args and variables that exist', () => {
  const sh = readDeploy('README.md'); // code blocks and inline commands alike
  const all = (re: RegExp) => [...new Set([...sh.matchAll(re)].map((m) => m[1]!))];
  const services = loadCompose().services;
  const named = [...all(/docker compose run --rm ([\w-]+)/g), ...all(/--scale ([\w-]+)=/g)];
  assert.ok(named.length >= 2, 'the README runs and scales compose services');
  for (const name of named) assert.ok(services[name], `compose service ${name}`);
  for (const profile of all(/--profile (\w+)/g))
    assert.ok(
      Object.values(services).some((svc) => svc.profiles?.includes(profile)),
      `a compose service in profile ${profile}`,
    );
  const deployments = loadK8s()
    .filter(({ obj }) => obj.kind === 'Deployment')
    .map(({ obj }) => obj.metadata?.name);
  const scaled = all(/deployment\/([\w-]+)/g);
  assert.ok(scaled.length >= 2);
  for (const name of scaled) assert.ok(deployments.includes(name), `k8s Deployment ${name}`);
  const dockerfile = readDeploy('docker/Dockerfile');
  for (const arg of all(/--build-arg (\w+)=/g))
    assert.match(dockerfile, new RegExp(`^ARG ${arg}(=|$)`, 'm'), `Dockerfile ARG ${arg}`);
  const passed = all(/ -e (\w+)/g);
  assert.ok(passed.length >= 5, 'docker run passes its settings with -e');
  assert.deepEqual(
    passed.flatMap((v) => schemaProblem(v, 'README docker run')),
    [],
  );
});

test('Dockerfile: every ENV it sets is in envSchema or a library variable', () => {
  const dockerfile = readDeploy('docker/Dockerfile');
  const names = [...dockerfile.matchAll(/^ENV\s+([A-Za-z0-9_]+)=/gm)].map((m) => m[1]!);
  assert.ok(names.includes('CHRYSALIS_DEVICE'), 'the image sets its device flavour');
  assert.deepEqual(
    names.flatMap((n) => schemaProblem(n, 'Dockerfile')),
    [],
  );
  assert.doesNotMatch(dockerfile, /^ENV\s+\S+\s+\S+\s*$/m, 'write ENV as NAME=value so this test sees it');
});

// ------------------------------------------------------------------ infra/multi-gpu.sh

const bash = (args: string[], env: Record<string, string>) =>
  spawnSync('bash', [launcher, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 10_000 });

test('multi-gpu.sh --dry-run: one worker per GPU, each on its own GPU with one slot', () => {
  const r = bash(['--dry-run'], { CHRYSALIS_GPUS: '0,1', CHRYSALIS_DATA_DIR: '/var/tmp/chrysalis-x' });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 2, r.stdout);
  lines.forEach((line, i) => {
    assert.match(line, /\bnode \S*dist\/workers\/compute-worker\.js\b/);
    assert.match(line, new RegExp(`(^| )CUDA_VISIBLE_DEVICES=${i} `));
    assert.match(line, / CHRYSALIS_DEVICE=gpu /);
    assert.match(line, / CHRYSALIS_COMPUTE_SLOTS=1 /);
    assert.match(line, new RegExp(`>>/var/tmp/chrysalis-x/logs/compute-gpu${i}\\.log 2>&1$`));
    const vars = [...line.split(' node ')[0]!.matchAll(/([A-Z0-9_]+)=/g)].map((m) => m[1]!);
    assert.deepEqual(
      vars.flatMap((v) => schemaProblem(v, 'multi-gpu.sh')),
      [],
    );
  });
  const bad = bash(['--dry-run'], { CHRYSALIS_GPUS: '0,x' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /GPU index 'x'/);
});

/** Runs the launcher for real with a stub worker (no GPU, no Temporal needed); resolves with its exit code. */
async function launch(
  gpus: string,
  stub: string,
  dataDir: string,
  signal?: NodeJS.Signals,
  env: Record<string, string> = {},
): Promise<number | null> {
  const child = spawn('bash', [launcher, '--worker', stub], {
    stdio: ['ignore', 'ignore', 'pipe'],
    // PATH: the stub runs on the node running this test
    env: {
      ...process.env,
      ...env,
      CHRYSALIS_GPUS: gpus,
      CHRYSALIS_DATA_DIR: dataDir,
      PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env['PATH'] ?? ''}`,
    },
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const logs = gpus.split(',').map((g) => path.join(dataDir, 'logs', `compute-gpu${g}.log`));
  const deadline = Date.now() + 10_000;
  while (signal && !logs.every((l) => existsSync(l) && readFileSync(l, 'utf8').includes('started'))) {
    assert.ok(Date.now() < deadline, `workers did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  if (signal) child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

test('multi-gpu.sh forwards signals and waits; a failing worker stops the others and fails the launcher', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'chrysalis-multi-gpu-'));
  try {
    const stub = path.join(dir, 'worker.js');
    writeFileSync(
      stub,
      `
      const gpu = process.env.CUDA_VISIBLE_DEVICES;
      const { CHRYSALIS_DEVICE: device, CHRYSALIS_COMPUTE_SLOTS: slots } = process.env;
      console.log('started gpu=' + gpu + ' device=' + device + ' slots=' + slots);
      process.on('SIGTERM', () => { console.log('drained'); setTimeout(() => process.exit(0), 200); });
      if (gpu === process.env.FAIL_ON_GPU) setTimeout(() => process.exit(3), 300);
      setTimeout(() => process.exit(9), 30000); // never outlive a broken test`,
    );
    const log = (d: string, g: string) => readFileSync(path.join(dir, d, 'logs', `compute-gpu${g}.log`), 'utf8');

    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const d = path.join(dir, signal);
      assert.equal(await launch('0,1', stub, d, signal), 0, `clean stop on ${signal}`);
      for (const g of ['0', '1']) {
        assert.match(log(signal, g), new RegExp(`started gpu=${g} device=gpu slots=1`));
        assert.match(log(signal, g), /drained/, `GPU ${g}'s worker got SIGTERM and was waited for`);
      }
    }

    assert.equal(
      await launch('0,1,2', stub, path.join(dir, 'fail'), undefined, { FAIL_ON_GPU: '1' }),
      3,
      "the failing worker's status",
    );
    assert.match(log('fail', '0'), /drained/, 'the others were stopped gracefully');
    assert.match(log('fail', '2'), /drained/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ------------------------------------------------------------------ the checks can fail

test('the checks catch a typo, a literal secret, a missing GPU reservation and a short grace period', () => {
  const compose = yamlDocs(
    `
services:
  compute-worker:
    image: chrysalis:gpu
    environment:
      - TEMPORAL_ADRESS=temporal:7233
      - MINIO_SECRET_KEY=hunter22hunter22
      - CHRYSALIS_DEVICE=gpu
      - CHRYSALIS_COMPUTE_SLOTS=1
    stop_grace_period: 2m
  db:
    image: postgres:16.10
    environment: { POSTGRES_PASSWORD: x, POSTGRES_USR: temporal }
`,
    'inline compose',
  )[0] as Compose;
  assert.deepEqual(composeEnvProblems(compose), [
    'compose compute-worker: TEMPORAL_ADRESS is not a key of envSchema (config/env.ts) ' +
      'nor an allow-listed library variable',
    'compose db: POSTGRES_USR is not a variable of postgres (THIRD_PARTY_VARS)',
  ]);
  assert.equal(composeSecretProblems(compose).length, 2, 'MINIO_SECRET_KEY and POSTGRES_PASSWORD are literals');
  assert.equal(composeGpuProblems(compose).length, 2, 'no GPU reservation; 2m < 150s');

  const k8s = yamlDocs(
    `
kind: ConfigMap
metadata: { name: cfg }
data: { MINIO_ENDPOINT: http://minio:9000, MINIO_SECRET_KEY: hunter22hunter22, CHRYSALIS_LOG_LEVL: info }
---
kind: Deployment
metadata: { name: gpu }
spec:
  template:
    spec:
      containers:
        - name: w
          command: [node, dist/workers/compute-worker.js]
          envFrom: [{ configMapRef: { name: cfg } }, { secretRef: { name: other } }]
          env: [{ name: CHRYSALIS_DEVICE, value: gpu }, { name: CHRYSALIS_COMPUTE_SLOTS, value: "2" }]
          resources: { limits: { nvidia.com/gpu: 2 } }
`,
    'inline k8s',
  ).map((obj) => ({ file: 'inline.yaml', obj: obj as K8sObject }));
  const secret = { name: 'chrysalis-minio', keys: ['MINIO_ACCESS_KEY', 'MINIO_SECRT_KEY'] };
  assert.deepEqual(
    k8sEnvProblems(k8s, secret).map((p) => p.replace(/:.*?(\S+) is not a key.*/, ': $1')),
    [
      'README secret chrysalis-minio: MINIO_SECRT_KEY',
      'k8s ConfigMap cfg: CHRYSALIS_LOG_LEVL',
      'k8s/inline.yaml gpu/w: envFrom Secret other is not the one README.md creates (chrysalis-minio)',
    ],
  );
  assert.equal(k8sSecretProblems(k8s).length, 1, 'MINIO_SECRET_KEY in a ConfigMap');
  assert.equal(k8sComputeProblems(k8s).length, 3, 'default 30 s grace, 2 GPUs, 2 slots');
  assert.deepEqual(
    readmeSecret('kubectl create secret generic s \\\n  --from-literal=A_B="$X" \\\n  --from-literal=C=1\nnext'),
    { name: 's', keys: ['A_B', 'C'] },
  );
});
