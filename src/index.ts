// The public API. Re-exports only.
export { COMPARE_DEFAULTS, compare } from './compare/compare.js';
export { compareReportHtml } from './compare/report-html.js';
export type {
  CompareOptions,
  ComparePhase,
  CompareProgress,
  CompareResultV3,
  FigureKind,
  MachineInfo,
  MemorySample,
  Metric,
  MetricId,
  RatioFigure,
  RuntimeReport,
} from './compare/types.js';
export { defineConfig } from './config/define.js';
export { parseDuration } from './config/duration.js';
// What status() returns and `msup status --json` prints.
export type { ExitSummary, InstanceStatus, ServiceStatus, StatusV1 } from './control/protocol.js';
export { type ConfigIssue, ERROR_CODES, type ErrorCode, isMsupError, MsupError } from './errors.js';
export type { ExportWarning } from './export/common.js';
export {
  EXPORT_FILES,
  type ExportOptions,
  type ExportResult,
  type ExportTarget,
  exportConfig,
} from './export/export.js';
export { prometheusText } from './runtime/sidecar/report.js';
export { createSupervisor, Supervisor, start } from './supervisor.js';
export type * from './types.js';
