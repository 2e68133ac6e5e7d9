// The socket operations TCP mode needs, apart from what it does with them (tcp.ts): accept, connect
// to an instance, and forward both ways with half-close. Two implementations: libuv's handles
// (tcp-handles.ts, the fast path) and net.Socket (tcp-net.ts, public API only).

/** One end of a proxied connection. */
export interface Endpoint {
  readonly destroyed: boolean;
  /** Closes the socket at once (idempotent). */
  destroy(): void;
}

export interface TcpListening {
  readonly port: number;
  /** Stops accepting; connections already accepted are not touched. */
  close(): Promise<void>;
  /** Past this many open client connections, a new one is closed at once (0: no limit). */
  setMaxConnections(max: number): void;
}

/** What a listener reports: a connection closed for the limit, a failed accept (EMFILE). */
export interface ListenReports {
  dropped(maxConnections: number): void;
  acceptFailed(error: NodeJS.ErrnoException): void;
}

export interface TcpIo {
  /** Binds and listens; rejects with the system error (its `code`, such as EADDRINUSE). */
  listen(
    host: string,
    port: number,
    onClient: (client: Endpoint) => void,
    reports: ListenReports,
  ): Promise<TcpListening>;
  /**
   * Connects to an instance (at its endpoint). `connected` is called exactly once: with no argument
   * once connected, or with the error (also when destroyed while connecting).
   */
  connect(host: string, port: number, connected: (error?: Error) => void): Endpoint;
  /**
   * Forwards both ways until both sides have ended (an end of input is passed on as a shutdown of the
   * other side's write half) or either fails; then closes both and calls `closed` once.
   */
  splice(client: Endpoint, upstream: Endpoint, closed: () => void): void;
}
