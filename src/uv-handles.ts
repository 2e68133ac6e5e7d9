// libuv's TCP handles, the layer under net.Socket, as Node exposes them through process.binding('tcp_wrap')
// and ('stream_wrap'): not a public API, so `loadHandles()` checks every part used and answers undefined
// when one is missing (or when process.binding would print a deprecation warning), and its users fall back
// to node:net. Used by TCP mode's fast path (proxy/tcp-handles.ts) and by the function runtime's bootstrap
// (runtime/function/runtime-client.ts), which connects without loading node:net (about 8 ms of a cold start
// on Node 24). A leaf: it imports nothing of msup.
import { getSystemErrorName } from 'node:util';

export const UV_EOF = -4095;
export const UV_ENOTCONN = -107;

export interface Req {
  oncomplete: (status: number) => void;
  handle?: Handle;
}

export interface Handle {
  onread: () => void;
  onconnection: (status: number, client?: Handle) => void;
  readStart(): number;
  readStop(): number;
  useUserBuffer(buffer: Uint8Array): void;
  writeBuffer(req: Req, data: Uint8Array): number;
  shutdown(req: Req): number;
  close(callback?: () => void): void;
  setNoDelay(on: boolean): number;
  bind(host: string, port: number): number;
  listen(backlog: number): number;
  connect(req: Req, host: string, port: number): number;
  getsockname(out: { port?: number }): number;
}

export interface Bindings {
  newSocket(): Handle;
  newServer(): Handle;
  newConnect(): Req;
  newWrite(): Req;
  newShutdown(): Req;
  /** Bytes read (> 0), 0, UV_EOF or an error, for the read that is being reported. */
  readResult(): number;
  lastWriteWasAsync(): boolean;
}

type Ctor<T> = new (...args: unknown[]) => T;

/** Node's handle bindings, or undefined when this Node lacks one of the parts used here. */
export function loadHandles(): Bindings | undefined {
  // Under --pending-deprecation, process.binding prints a warning; the public path prints nothing.
  const options = `${process.execArgv.join(' ')} ${process.env.NODE_OPTIONS ?? ''}`;
  if (/(^|\s)--pending-deprecation\b/.test(options) || process.env.NODE_PENDING_DEPRECATION === '1') {
    return undefined;
  }
  try {
    const binding = (process as unknown as { binding(name: string): Record<string, unknown> }).binding;
    const tcp = binding('tcp_wrap') as {
      TCP: Ctor<Handle>;
      TCPConnectWrap: Ctor<Req>;
      constants: Record<string, number>;
    };
    const stream = binding('stream_wrap') as {
      WriteWrap: Ctor<Req>;
      ShutdownWrap: Ctor<Req>;
      streamBaseState: Int32Array;
      kReadBytesOrError: number;
      kLastWriteWasAsync: number;
    };
    const { TCP, TCPConnectWrap, constants } = tcp;
    const { WriteWrap, ShutdownWrap, streamBaseState: state, kReadBytesOrError, kLastWriteWasAsync } = stream;
    const methods = [
      'readStart',
      'readStop',
      'useUserBuffer',
      'writeBuffer',
      'shutdown',
      'close',
      'setNoDelay',
    ];
    const serverMethods = ['bind', 'listen', 'connect', 'getsockname'];
    if (
      typeof TCP !== 'function' ||
      typeof TCPConnectWrap !== 'function' ||
      typeof WriteWrap !== 'function' ||
      typeof ShutdownWrap !== 'function' ||
      !(state instanceof Int32Array) ||
      typeof kReadBytesOrError !== 'number' ||
      typeof kLastWriteWasAsync !== 'number' ||
      typeof constants?.SOCKET !== 'number' ||
      typeof constants.SERVER !== 'number' ||
      ![...methods, ...serverMethods].every(
        (name) => typeof TCP.prototype[name as keyof Handle] === 'function',
      )
    ) {
      return undefined;
    }
    return {
      newSocket: () => new TCP(constants.SOCKET),
      newServer: () => new TCP(constants.SERVER),
      newConnect: () => new TCPConnectWrap(),
      newWrite: () => new WriteWrap(),
      newShutdown: () => new ShutdownWrap(),
      readResult: () => state[kReadBytesOrError] as number,
      lastWriteWasAsync: () => state[kLastWriteWasAsync] !== 0,
    };
  } catch {
    return undefined;
  }
}

export function errnoError(status: number, syscall: string): NodeJS.ErrnoException {
  const code = getSystemErrorName(status);
  const error: NodeJS.ErrnoException = new Error(`${syscall} ${code}`);
  error.code = code;
  error.errno = status;
  error.syscall = syscall;
  return error;
}
