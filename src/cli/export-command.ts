// `msup export compose|k8s|sam|knative|linkerd|istio [--out DIR]`: builds the images, writes the file, prints each lossy mapping.
import path from 'node:path';
import { type ExportTarget, exportConfig } from '../export/export.js';
import type { CliArgs } from './args.js';
import { EXIT } from './exit-codes.js';
import type { Stdio } from './output-sink.js';
import { projectRoot } from './project.js';

export async function exportCommand(args: CliArgs, io: Stdio): Promise<number> {
  const target = args.rest[0] as ExportTarget;
  const root = projectRoot(args.config);
  const result = await exportConfig({
    target,
    cwd: root,
    ...(args.config === undefined ? {} : { configFile: path.resolve(args.config) }),
    outDir: path.resolve(args.out ?? '.'),
    onProgress: (message) => io.err.write(`msup: ${message}\n`),
  });
  if (args.json) {
    const { file, warnings, images } = result;
    io.out.write(`${JSON.stringify({ version: 1, target, file: file.path, warnings, images })}\n`);
    return EXIT.ok;
  }
  for (const w of result.warnings) io.err.write(`msup: warning: ${w.key}: ${w.message}\n`);
  io.out.write(`wrote ${result.file.path}\n`);
  return EXIT.ok;
}
