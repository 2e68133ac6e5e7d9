// `node bench/http-floor.js` (issue 14): what the byte-forwarding route would buy, measured with a
// prototype (bench/http-floor-proxy.js: llhttp on both sides, keep-alive pool, msup's header hygiene,
// bytes written as they come) beside nginx, msup-http and msup's TCP mode, in the same run.
// 1. The comparison: bench/http.js --floor (wall clock: take the lock), with any of its options passed on
//    (--rounds, --duration, --callgrind, --requests, --other-node PATH, --only ...).
// 2. With --profile: where each prototype variant's CPU goes (node --cpu-prof under wrk -c50): each
//    sample goes to the innermost frame, grouped as llhttp (V8 gives HTTPParser.execute no frame: its
//    time is the own time of the JS function that calls it), parser callbacks, socket writes (the write
//    calls, their system call included: on loopback that is most of the TCP stack, the receiver's side
//    too), header hygiene (the head re-serialised), forwarding glue (the rest of the prototype's
//    JavaScript), Node's JavaScript (net.Socket's streams), the garbage collector and (program): libuv,
//    epoll and the reads, V8 outside JavaScript (and, in uv-consume, llhttp on the client side). Scaled
//    by the process's CPU per request over the same run. --profile-seconds S (5), --profile-only.
// 3. With --breakdown DIR: user-space instructions per request by layer, from the callgrind dumps that
//    `--callgrind --keep-callgrind DIR` left there (each function's own instructions, grouped by name).
import { execFileSync, fork, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuMicros, freePort, load, stopChild, waitForPort } from './tools.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const flag = (name) => {
  const i = args.indexOf(name);
  if (i < 0) return false;
  args.splice(i, 1);
  return true;
};
const value = (name, fallback) => {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
};
const PROFILE = flag('--profile');
const BREAKDOWN = value('--breakdown', undefined);
const PROFILE_ONLY = flag('--profile-only');
const SECONDS = Number(value('--profile-seconds', '5'));

const HYGIENE = new Set([
  'requestHead',
  'responseHead',
  'connectionTokens',
  'isLoopback',
  'chunkHeader',
  'passed',
  'stringIs',
  'writeUuid',
]);

/** The group a profile node's own time goes to. */
function group(frame) {
  const { functionName: fn, url } = frame;
  if (fn === '(garbage collector)') return 'garbage collector';
  if (fn === '(program)' || fn === '(root)') return '(program): libuv, reads, V8 outside JS';
  if (fn === '(idle)') return undefined;
  if (!url) {
    if (/^write/.test(fn)) return 'socket writes (write calls, system call included)';
    if (fn === 'randomUUID' || fn === 'secureBuffer' || fn === 'getRandomValues')
      return 'X-Request-Id (randomUUID)';
    return `native: ${fn || '(anonymous)'}`;
  }
  if (url.includes('http-floor-proxy.js')) {
    // V8 gives HTTPParser.execute no frame of its own: llhttp's time is its caller's own time.
    if (fn.endsWith('conn.ondata')) return "llhttp's execute (the own time of its caller, ondata)";
    if (fn.endsWith('p.<computed>')) return 'parser callbacks (JS)';
    return HYGIENE.has(fn) ? 'header hygiene (JS)' : 'forwarding glue (JS)';
  }
  if (url.includes('/dist/')) return `msup: ${path.basename(url)}`;
  if (url.startsWith('node:internal/crypto')) return 'X-Request-Id (randomUUID)';
  if (url.startsWith('node:')) return `node: ${url.replace(/^node:(internal\/)?/, '')}`;
  return `other: ${path.basename(url)}`;
}

function breakdown(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const counts = new Map();
  let total = 0;
  for (const id of profile.samples) {
    const g = group(byId.get(id).callFrame);
    if (!g) continue;
    total++;
    counts.set(g, (counts.get(g) ?? 0) + 1);
  }
  return { total, counts };
}

async function profileTarget(name, argv, tmp) {
  const dir = path.join(tmp, name);
  const port = await freePort();
  const child = spawn(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`, ...argv(String(port))], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    await waitForPort(port);
    load(port, 50, 1); // warm-up
    const before = cpuMicros(child.pid);
    const r = load(port, 50, SECONDS);
    const cpu = (cpuMicros(child.pid) - before) / r.requests;
    return { cpu, rps: r.rps };
  } finally {
    await stopChild(child, 5000);
  }
}

async function profiles() {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'msup-bench-floor-'));
  const children = [];
  try {
    const backends = [String(await freePort()), String(await freePort())];
    for (const port of backends) {
      const child = fork(path.join(HERE, 'backend.js'), [], { env: { ...process.env, PORT: port } });
      children.push(child);
      await new Promise((r) => child.once('message', r));
    }
    const targets = [
      ['msup-http', (p) => [path.join(HERE, 'msup-proxy.js'), 'http', p, ...backends]],
      ...['net', 'uv', 'uv-consume', 'uv-rp', 'uv-js', 'uv-js-one', 'uv-js-pass', 'uv-js-pass-one'].map(
        (v) => [`floor-${v}`, (p) => [path.join(HERE, 'http-floor-proxy.js'), v, p, ...backends]],
      ),
    ];
    console.log(
      `\nWhere the CPU goes (--cpu-prof, wrk -c50 for ${SECONDS}s, node ${process.version}, load average ${os.loadavg()[0].toFixed(1)}):`,
    );
    for (const [name, argv] of targets) {
      // The profile is written at exit (SIGTERM → process.exit in the proxy scripts).
      const { cpu, rps } = await profileTarget(name, argv, tmp);
      const dir = path.join(tmp, name);
      const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
      const { total, counts } = breakdown(JSON.parse(readFileSync(path.join(dir, file), 'utf8')));
      console.log(`\n${name}: ${cpu.toFixed(1)} µs CPU/req (${rps.toFixed(0)} req/s), ${total} samples`);
      console.log('| where | share | µs/req |');
      console.log('|---|---:|---:|');
      const rows = [...counts].sort((a, b) => b[1] - a[1]);
      let rest = 0;
      for (const [g, n] of rows) {
        if (n / total < 0.01) {
          rest += n;
          continue;
        }
        console.log(`| ${g} | ${((100 * n) / total).toFixed(1)}% | ${((cpu * n) / total).toFixed(1)} |`);
      }
      if (rest)
        console.log(
          `| (each under 1%) | ${((100 * rest) / total).toFixed(1)}% | ${((cpu * rest) / total).toFixed(1)} |`,
        );
    }
  } finally {
    await Promise.all(children.map((c) => stopChild(c, 5000)));
    rmSync(tmp, { recursive: true, force: true });
  }
}

// Each function's own instructions go to the first layer whose pattern matches its name (its object
// file for JIT-compiled JavaScript, which callgrind cannot name).
const LAYERS = [
  ['llhttp (the parser itself)', /^llhttp/],
  ["node's parser binding (headers to JS values, callbacks)", /node::\(anonymous namespace\)::Parser/],
  [
    'garbage collector',
    /Heap|Scaveng|Mark(ing|er|Compact)|Sweep|Evacuat|IterateObjectCache|RootScavengeVisitor|GC|Remembered|Slot/,
  ],
  [
    'calls between C++ and JavaScript (scopes, async hooks, entry)',
    /InternalCallbackScope|AsyncHooks|AsyncWrap|Function::Call|CallDepthScope|HandleScope|Invoke|MakeCallback|Execution|JSEntry|CEntry|Context::(Enter|Exit)|GetCurrentContext|TryCatch|MicrotaskQueue|Builtins_Call|Builtins_Construct|node::Environment|tick|Tick/,
  ],
  ['crypto (X-Request-Id)', /CRYPTO|RAND|rand_|ossl|EVP|drbg|sha|SHA|ctr/],
  [
    'sockets: libuv and stream writes/reads',
    /uv_|uv__|StreamBase|StreamWrap|WriteWrap|StreamReq|LibuvStream|node::TCPWrap|ReqWrap|epoll|CustomBufferJSListener|EmitToJS/,
  ],
  [
    'strings (concatenation, flattening, case, encoding)',
    /String|Flat|CopyChars|Utf8|Latin1|OneByte|ToLowerCase|StringBytes|Encode|Decode|Hash/,
  ],
  [
    'objects, properties, allocation (V8 runtime and builtins)',
    /v8::|Builtins_|Runtime_|Factory|Allocat|Lookup|Map|Object|IC/,
  ],
  ['malloc/free, memcpy (libc)', /malloc|free|memcpy|memmove|memset|operator new|operator delete|cfree/],
];

function breakdownCallgrind(file, requests) {
  const names = new Map();
  const resolve = (kind, v) => {
    const m = /^\((\d+)\)(?: (.*))?$/.exec(v);
    if (!m) return v;
    const key = `${kind}${m[1]}`;
    if (m[2] !== undefined) names.set(key, m[2]);
    return names.get(key) ?? v;
  };
  const own = new Map();
  let ob = '';
  let fn = '';
  let skip = false;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.startsWith('ob=')) ob = resolve('ob', line.slice(3));
    else if (line.startsWith('fn=')) fn = resolve('fn', line.slice(3));
    else if (line.startsWith('cob=')) resolve('ob', line.slice(4));
    else if (line.startsWith('cfn=')) resolve('fn', line.slice(4));
    else if (line.startsWith('calls=')) skip = true;
    else if (/^[\d+\-*]/.test(line)) {
      const cost = Number(line.split(' ')[1]);
      if (!Number.isFinite(cost)) continue;
      if (skip)
        skip = false; // the cost of a call, counted in the callee
      else {
        const key = `${ob}\0${fn}`;
        own.set(key, (own.get(key) ?? 0) + cost);
      }
    }
  }
  const layers = new Map();
  let total = 0;
  for (const [key, cost] of own) {
    const [object, name] = key.split('\0');
    let layer;
    if (object === '???' || name.startsWith('0x')) layer = 'JIT-compiled JavaScript';
    else if (/nginx/.test(object)) layer = 'nginx';
    else layer = LAYERS.find(([, re]) => re.test(name))?.[0] ?? `other (${path.basename(object)})`;
    layers.set(layer, (layers.get(layer) ?? 0) + cost);
    total += cost;
  }
  return { perRequest: total / requests, layers: [...layers].map(([l, c]) => [l, c / requests]) };
}

function breakdowns(dir) {
  const files = readdirSync(dir).filter((f) => f.endsWith('.callgrind'));
  const results = files.map((f) => {
    const name = f.replace(/\.callgrind$/, '');
    const requests = Number(readFileSync(path.join(dir, `${name}.requests`), 'utf8'));
    return [name, breakdownCallgrind(path.join(dir, f), requests)];
  });
  const layerNames = [...new Set(results.flatMap(([, r]) => r.layers.map(([l]) => l)))];
  const get = (r, l) => r.layers.find(([n]) => n === l)?.[1] ?? 0;
  layerNames.sort((a, b) => results.reduce((s, [, r]) => s + get(r, b) - get(r, a), 0));
  console.log(
    '\nUser-space instructions per request by layer (callgrind, own instructions of each function):',
  );
  console.log(`| layer | ${results.map(([n]) => n).join(' | ')} |`);
  console.log(`|---|${results.map(() => '---:').join('|')}|`);
  for (const l of layerNames) {
    console.log(
      `| ${l} | ${results.map(([, r]) => Math.round(get(r, l)).toLocaleString('en')).join(' | ')} |`,
    );
  }
  console.log(
    `| total | ${results.map(([, r]) => Math.round(r.perRequest).toLocaleString('en')).join(' | ')} |`,
  );
}

if (!PROFILE_ONLY && !BREAKDOWN) {
  execFileSync(process.execPath, [path.join(HERE, 'http.js'), '--floor', ...args], { stdio: 'inherit' });
}
if (PROFILE || PROFILE_ONLY) await profiles();
if (BREAKDOWN) breakdowns(BREAKDOWN);
