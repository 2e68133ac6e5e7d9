// `msup export compose|k8s|sam|knative|linkerd|istio` and exportConfig(): the config loaded, each service's
// image made sure of (built here, or `container.image`; SAM needs none), the documents written as YAML
// with every lossy mapping as a warning.
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { checkConfigSource } from '../config/config-source.js';
import { prepareConfig } from '../config/load.js';
import { loadConfigIsolated } from '../config/load-isolated.js';
import { MsupError } from '../errors.js';
import { detectEngine } from '../runtime/container/engine.js';
import { EXPORT_MARK } from '../runtime/container/ignore.js';
import { ensureImage, type ImageKind } from '../runtime/container/image.js';
import type { MsupConfig, ResolvedConfig } from '../types.js';
import { type ExportWarning, givenImageWarnings, sidecarWarning, Warnings } from './common.js';
import { composeDocument } from './compose.js';
import { composeInterpolatedKeys } from './compose-env.js';
import { functionServices } from './functions.js';
import { withIstio } from './istio.js';
import { knativeServices } from './knative.js';
import { kubernetesManifests } from './kubernetes.js';
import { withLinkerd } from './linkerd.js';
import { samTemplate } from './sam.js';
import { EXPORT_FILES, EXPORT_TARGETS, type ExportTarget } from './targets.js';
import { toYaml } from './yaml.js';

export { EXPORT_FILES, EXPORT_TARGETS, type ExportTarget };

/** The Kubernetes manifests for a target: plain, or with a mesh's parts. Pure. */
export function kubernetesFor(
  target: 'k8s' | 'linkerd' | 'istio',
  config: ResolvedConfig,
  project: string,
  images: ReadonlyMap<string, string>,
  warnings: Warnings,
  ownImages: ReadonlySet<string> = new Set(),
): Record<string, unknown>[] {
  const manifests = kubernetesManifests(config, project, images, warnings, ownImages);
  if (target === 'linkerd') return withLinkerd(config, manifests, warnings);
  if (target === 'istio') return withIstio(config, manifests, warnings);
  for (const service of config.services) sidecarWarning(service, warnings, 'Kubernetes');
  return manifests;
}

/** The services a target runs in containers (their images are made sure of): none for SAM (Lambda runs the code). */
function imaged(config: ResolvedConfig, target: ExportTarget) {
  if (target === 'sam') return [];
  if (target === 'knative') return functionServices(config, new Warnings(), 'Knative');
  return config.services.filter((s) => s.runtime !== 'function');
}

export interface ExportOptions {
  target: ExportTarget;
  /** The config file, relative to `cwd` (default: supervisor.config.* in `cwd`). */
  configFile?: string;
  /** A config object instead of a file; `cwd` is its project folder. */
  config?: MsupConfig;
  cwd?: string;
  /** Where the file goes (default: `cwd`); created if missing. */
  outDir?: string;
  /** Write the file (default true); false only returns it. */
  write?: boolean;
  /** What happens while the images are made sure of (hashing, building). */
  onProgress?: (message: string) => void;
}

export interface ExportResult {
  target: ExportTarget;
  /** The file, written (unless `write: false`) at `path`. */
  file: { path: string; content: string };
  /** Every mapping that loses something, by config key. */
  warnings: ExportWarning[];
  /** The image each service's containers run. */
  images: Record<string, { ref: string; kind: ImageKind; built: boolean }>;
}

const MARK = EXPORT_MARK;

/** A project name as Compose and Kubernetes accept it: the project folder's name, lower case. */
export function projectName(root: string): string {
  const name = path
    .basename(root)
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return /^[a-z]/.test(name) ? name : `msup-${name}`;
}

async function loadConfig(options: ExportOptions): Promise<ResolvedConfig> {
  const cwd = path.resolve(options.cwd ?? process.cwd());
  if (options.config) return prepareConfig(options.config, cwd, null);
  // In the loader's worker, as for start: what the config prints goes to stderr, not into the export's
  // output (--json), and an error it throws late is a load error.
  return loadConfigIsolated({
    cwd,
    checkFolders: false,
    ...(options.configFile === undefined ? {} : { configFile: options.configFile }),
  });
}

/**
 * Refuses, before any image is built, an output that cannot be written: `outDir` (or a folder on its
 * way) that is a file, the file's name taken by a folder, or a file that msup did not write (a
 * hand-written compose.yaml).
 */
async function checkWritable(outDir: string, file: string) {
  for (let dir = outDir; ; dir = path.dirname(dir)) {
    const found = await stat(dir).catch(() => null);
    if (found && !found.isDirectory())
      throw new MsupError(
        'MSUP_USAGE',
        `cannot write into ${outDir}: ${dir} is a file, not a folder (choose a folder with --out DIR)`,
      );
    if (found || dir === path.dirname(dir)) break;
  }
  if ((await stat(file).catch(() => null))?.isDirectory())
    throw new MsupError(
      'MSUP_USAGE',
      `cannot write ${file}: it is a folder (move it, or choose another folder with --out DIR)`,
    );
  if (!existsSync(file)) return;
  const head = (await readFile(file, 'utf8')).slice(0, MARK.length);
  if (head !== MARK)
    throw new MsupError(
      'MSUP_USAGE',
      `${file} exists and was not written by msup export: move it, or choose another folder with --out DIR`,
    );
}

/**
 * The env files Compose would read differently from msup (compose-env.ts): the export references them
 * (their values may be secrets, kept out of compose.yaml), so each such value is named, with what to do.
 */
export function composeEnvWarnings(config: ResolvedConfig, warnings: Warnings): void {
  const rootEnv = path.join(config.root, '.env');
  const files: [string, string][] = [
    ...(existsSync(rootEnv) ? [['.env', rootEnv] as [string, string]] : []),
    ...config.services.flatMap((s) =>
      s.envFiles.map((file): [string, string] => [`services.${s.name}.env_file`, file]),
    ),
  ];
  for (const [key, file] of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue; // msup reports a missing env_file at start; the export keeps it as not required
    }
    const differ = composeInterpolatedKeys(text);
    if (differ.length > 0)
      warnings.add(
        key,
        `${file}: Compose interpolates $ in unquoted and double-quoted values, where msup reads them literally: ${differ.join(', ')} would differ there; put ${differ.length === 1 ? 'that value' : 'those values'} in single quotes, which both read literally`,
      );
  }
}

export async function exportConfig(options: ExportOptions): Promise<ExportResult> {
  if (!EXPORT_TARGETS.includes(options.target))
    throw new MsupError(
      'MSUP_USAGE',
      `export: expected ${EXPORT_TARGETS.map((t) => `"${t}"`).join(', ')}, got "${options.target}"`,
    );
  checkConfigSource(options);
  const config = await loadConfig(options);
  const outDir = path.resolve(options.cwd ?? process.cwd(), options.outDir ?? '.');
  const file = path.join(outDir, EXPORT_FILES[options.target]);
  if (options.write !== false) await checkWritable(outDir, file);

  const progress = options.onProgress ?? (() => {});
  const images: ExportResult['images'] = {};
  for (const service of imaged(config, options.target)) {
    const engine = await detectEngine(service.container.engine);
    const image = await ensureImage(engine, service, config.root, (m, level) =>
      progress(`${service.name}: ${level === 'warn' ? 'warning: ' : ''}${m}`),
    );
    images[service.name] = image;
  }
  const refs = new Map(Object.entries(images).map(([name, image]) => [name, image.ref]));
  const ownImages = new Set(
    Object.entries(images)
      .filter(([, image]) => image.kind !== 'minimal')
      .map(([name]) => name),
  );
  const warnings = new Warnings();
  const project = projectName(config.root);
  const local = Object.entries(images).filter(([, image]) => image.kind !== 'given');
  if (local.length > 0)
    warnings.add(
      'images',
      `${local.map(([, i]) => i.ref).join(', ')} exist only on this machine: push them to a registry the ${options.target === 'compose' ? 'engine' : 'cluster'} can pull from, and change image:`,
    );
  givenImageWarnings(config, images, warnings);
  if (options.target !== 'sam')
    warnings.add(
      'HOST',
      'each instance has its own network namespace: it must listen on 0.0.0.0 (HOST is set to 0.0.0.0); one that listens on 127.0.0.1, as msup allows, cannot be reached',
    );
  const documents =
    options.target === 'compose'
      ? [
          composeDocument(
            config,
            project,
            refs,
            existsSync(path.join(config.root, '.env')) ? path.join(config.root, '.env') : null,
            warnings,
            ownImages,
          ),
        ]
      : options.target === 'sam'
        ? [samTemplate(config, warnings, outDir)]
        : options.target === 'knative'
          ? knativeServices(config, project, refs, warnings, ownImages)
          : kubernetesFor(options.target, config, project, refs, warnings, ownImages);
  if (options.target === 'compose') composeEnvWarnings(config, warnings);
  // Compose reads the project's .env as msup does (env_file); the other targets have no such file.
  if (options.target !== 'compose' && existsSync(path.join(config.root, '.env')))
    warnings.add(
      '.env',
      `not exported (it may hold secrets): give its values to ${options.target === 'sam' ? 'the functions (Environment, or Parameters)' : 'the containers yourself (a Secret, with envFrom)'}`,
    );
  const source = config.file ?? `the config of ${config.root}`;
  const content = toYaml(documents, [
    `${MARK.slice(2)} ${options.target} from ${source}: edit that and export again.`,
    ...warnings.list.map((w) => `warning: ${w.key}: ${w.message}`),
  ]);
  if (options.write !== false) {
    try {
      await mkdir(outDir, { recursive: true });
      await writeFile(file, content);
    } catch (error) {
      // What the checks before cannot foresee (no permission, a full disk, a file made meanwhile).
      const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      throw new MsupError('MSUP_WRITE_FAILED', `cannot write ${file}: ${reason}`, { cause: error });
    }
  }
  return { target: options.target, file: { path: file, content }, warnings: warnings.list, images };
}
