// `msup export compose|k8s [--out DIR]`: builds the images, writes the file, prints each lossy mapping.
import path from 'node:path';
import { type ExportTarget, exportConfig } from '../export/export.js';
import type { CliArgs } from './args.js';
import { EXIT } from './exit-codes.js';
import { projectRoot } from './project.js';

export async function exportCommand(args: CliArgs): Promise<number> {
  const target = args.rest[0] as ExportTarget;
  const root = projectRoot(args.config);
  const result = await exportConfig({
    target,
    cwd: root,
    ...(args.config === undefined ? {} : { configFile: path.resolve(args.config) }),
    outDir: path.resolve(args.out ?? '.'),
    onProgress: (message) => process.stderr.write(`msup: ${message}\n`),
  });
  if (args.json) {
    const { file, warnings, images } = result;
    process.stdout.write(`${JSON.stringify({ version: 1, target, file: file.path, warnings, images })}\n`);
    return EXIT.ok;
  }
  for (const w of result.warnings) process.stderr.write(`msup: warning: ${w.key}: ${w.message}\n`);
  process.stdout.write(`wrote ${result.file.path}\n`);
  return EXIT.ok;
}
