// A foreground msup stops when the process that started it goes away (a script kills the `npx` or
// `npm run` it started msup with): Node has no parent-death signal, so the parent pid is polled.
export function watchParent(onGone: (parent: number) => void, intervalMs = 500): () => void {
  const parent = process.ppid;
  // Started by init (or a container's pid 1): there is no parent to lose.
  if (parent <= 1) return () => {};
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    onGone(parent);
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
