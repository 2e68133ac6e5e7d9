// What the kubelet does to a container's command, args, env values and exec probes before the program
// sees them: Kubernetes' expansion (kubernetes/kubernetes third_party/forked/golang/expansion/expand.go),
// ported byte for byte. `$(VAR)` is a variable defined earlier in the container's env (kept as written
// when not), `$$` is `$`, and a `$` before anything else stays with that byte.

const DOLLAR = 0x24;
const OPEN = 0x28;
const CLOSE = 0x29;

/** The variable name, or the bytes to copy, after a `$`; and how many bytes it takes. */
function readVariable(input: Buffer): { read: Buffer; isVar: boolean; advance: number } {
  if (input[0] === DOLLAR) return { read: input.subarray(0, 1), isVar: false, advance: 1 };
  if (input[0] === OPEN) {
    for (let i = 1; i < input.length; i++)
      if (input[i] === CLOSE) return { read: input.subarray(1, i), isVar: true, advance: i + 1 };
    return { read: Buffer.from('$('), isVar: false, advance: 1 };
  }
  // Go's string(input[0]) of a byte: the rune of that byte's value (a byte of a UTF-8 sequence is mangled).
  return {
    read: Buffer.concat([Buffer.from('$'), Buffer.from(String.fromCharCode(input[0] as number))]),
    isVar: false,
    advance: 1,
  };
}

/** `text` as the program gets it, with `vars` the container's variables defined before it. */
export function kubeExpand(text: string, vars: Readonly<Record<string, string>> = {}): string {
  const input = Buffer.from(text);
  const out: Buffer[] = [];
  let checkpoint = 0;
  for (let cursor = 0; cursor < input.length; cursor++) {
    if (input[cursor] !== DOLLAR || cursor + 1 >= input.length) continue;
    out.push(input.subarray(checkpoint, cursor));
    const { read, isVar, advance } = readVariable(input.subarray(cursor + 1));
    if (isVar) {
      const name = read.toString();
      out.push(Buffer.from(Object.hasOwn(vars, name) ? (vars[name] as string) : `$(${name})`));
    } else out.push(read);
    cursor += advance;
    checkpoint = cursor + 1;
  }
  out.push(input.subarray(checkpoint));
  return Buffer.concat(out).toString();
}

/**
 * A container's env as the program gets it: each value expanded with the variables before it, as the
 * kubelet does (a later one is not defined yet).
 */
export function kubeEnvironment(env: readonly { name: string; value: string }[]): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const { name, value } of env) vars[name] = kubeExpand(value, vars);
  return vars;
}
