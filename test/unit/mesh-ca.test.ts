// The mesh CA and the services' certificates: a CA replaced before it can cut a certificate short (at open
// and in a running msup, trusted beside the old one first), a CA whose key is not its certificate's noticed,
// its files replaced whole, and renewals due on the wall clock, which goes on while a laptop sleeps.
import 'reflect-metadata';
import {
  createPrivateKey,
  generateKeyPairSync,
  X509Certificate as NodeCertificate,
  webcrypto,
} from 'node:crypto';
import { linkSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import * as x509 from '@peculiar/x509';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TimerHandle } from '../../src/clock.js';
import { MAX_DURATION_MS } from '../../src/limits.js';
import { CA_RENEW_BEFORE_MS, type Issued, MeshCa } from '../../src/runtime/sidecar/ca.js';
import { CHECK_INTERVAL_MS, Identities } from '../../src/runtime/sidecar/identities.js';
import { meshConnectOptions, serverOptions } from '../../src/sidecar/tls.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { waitFor } from '../helpers/processes.js';

const PROJECT = 'p1';
const DAY = 24 * 3_600_000;
const HOUR = 3_600_000;
const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'msup-mesh-ca-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

interface Logged {
  level: string;
  msg: string;
}

/** Writes a CA of this project valid from `from` to `to` as msup would have, without msup's code. */
async function writeCa(caDir: string, from: number, to: number): Promise<void> {
  x509.cryptoProvider.set(webcrypto as never);
  const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: `CN=msup mesh CA ${PROJECT}`,
    notBefore: new Date(from),
    notAfter: new Date(to),
    keys,
    signingAlgorithm: ALGORITHM,
    extensions: [new x509.BasicConstraintsExtension(true, 0, true)],
  });
  const key = x509.PemConverter.encode(
    await webcrypto.subtle.exportKey('pkcs8', keys.privateKey),
    'PRIVATE KEY',
  );
  writeFileSync(path.join(caDir, 'ca.key'), key, { mode: 0o600 });
  writeFileSync(path.join(caDir, 'ca.crt'), cert.toString('pem'), { mode: 0o600 });
}

const pems = (bundle: string) =>
  bundle.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];

/** Which of the CAs in `bundle` signed `cert` (its index), or -1. */
function signerIndex(cert: string, bundle: string): number {
  const leaf = new NodeCertificate(cert);
  return pems(bundle).findIndex((ca) => leaf.verify(new NodeCertificate(ca).publicKey));
}

const validTo = (pem: string) => Date.parse(new NodeCertificate(pem).validTo);

describe('the mesh CA', () => {
  it('outlives the longest certificate lifetime a config may set by its renewal margin', () => {
    expect(CA_RENEW_BEFORE_MS).toBeGreaterThan(MAX_DURATION_MS);
  });

  it('is replaced at open when less than that margin is left, so a certificate gets its whole lifetime', async () => {
    const now = Date.now();
    // 20 days left: more than the day the CA was given before, less than the longest certificate.
    await writeCa(dir, now - 345 * DAY, now + 20 * DAY);
    const before = readFileSync(path.join(dir, 'ca.crt'), 'utf8');
    const logged: Logged[] = [];
    const ca = await MeshCa.open(dir, PROJECT, { log: (level, msg) => logged.push({ level, msg }) });
    expect(ca.pem).not.toBe(before);
    expect(readFileSync(path.join(dir, 'ca.crt'), 'utf8')).toBe(ca.pem);
    expect(logged).toEqual([{ level: 'info', msg: 'the mesh CA was near its end: made a new one' }]);
    const issued = await ca.issue('api', MAX_DURATION_MS);
    expect(validTo(issued.cert)).toBeGreaterThanOrEqual(Math.floor((now + MAX_DURATION_MS) / 1000) * 1000);
    expect(signerIndex(issued.cert, ca.pem)).toBe(0);
  });

  it("is made again, and said so, when ca.key is not ca.crt's key; the files are replaced, not rewritten", async () => {
    await MeshCa.open(dir, PROJECT);
    const first = readFileSync(path.join(dir, 'ca.crt'), 'utf8');
    // The old files stay readable under other names while msup writes new ones: it renames over them.
    linkSync(path.join(dir, 'ca.crt'), path.join(dir, 'old.crt'));
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const stray = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    writeFileSync(path.join(dir, 'ca.key'), stray, { mode: 0o600 });
    linkSync(path.join(dir, 'ca.key'), path.join(dir, 'old.key'));

    const logged: Logged[] = [];
    const ca = await MeshCa.open(dir, PROJECT, { log: (level, msg) => logged.push({ level, msg }) });
    expect(logged).toEqual([
      { level: 'warn', msg: 'the mesh CA could not be used (ca.key does not match ca.crt): made a new one' },
    ]);
    expect(ca.pem).not.toBe(first);
    const cert = new NodeCertificate(readFileSync(path.join(dir, 'ca.crt')));
    expect(cert.checkPrivateKey(createPrivateKey(readFileSync(path.join(dir, 'ca.key'))))).toBe(true);
    expect(readFileSync(path.join(dir, 'old.crt'), 'utf8')).toBe(first);
    expect(readFileSync(path.join(dir, 'old.key'), 'utf8')).toBe(stray);
    // No temporary file left; each file 0600.
    expect(readdirSync(dir).sort()).toEqual(['ca.crt', 'ca.key', 'old.crt', 'old.key']);
    expect(statSync(path.join(dir, 'ca.key')).mode & 0o777).toBe(0o600);
    expect(statSync(path.join(dir, 'ca.crt')).mode & 0o777).toBe(0o600);
    // The next open keeps it, silently.
    const again: Logged[] = [];
    const reopened = await MeshCa.open(dir, PROJECT, { log: (level, msg) => again.push({ level, msg }) });
    expect(reopened.pem).toBe(ca.pem);
    expect(again).toEqual([]);
  });

  it('writes the SAN of a certificate as not critical (its subject is not empty)', async () => {
    const ca = await MeshCa.open(dir, PROJECT);
    const issued = await ca.issue('api', HOUR);
    const cert = new x509.X509Certificate(issued.cert);
    const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
    expect(san?.critical).toBe(false);
    expect(cert.subject).toBe('CN=api');
    expect(new NodeCertificate(issued.cert).subjectAltName).toBe(`URI:${issued.identity}`);
  });

  it('in a running msup: a new CA trusted beside the old one first, and signing only once the old cannot cover a certificate', async () => {
    const start = Date.now();
    let wall = start;
    const logged: Logged[] = [];
    const ca = await MeshCa.open(dir, PROJECT, {
      now: () => wall,
      log: (level, msg) => logged.push({ level, msg }),
    });
    const first = ca.pem;
    const end = validTo(first);
    // Inside the margin: a new CA, in the bundle first; the old one still signs a certificate it covers.
    wall = end - CA_RENEW_BEFORE_MS + HOUR;
    const a = await ca.issue('api', HOUR);
    expect(pems(ca.pem)).toHaveLength(2);
    expect(pems(ca.pem)[1]).toBe(first.trim());
    expect(signerIndex(a.cert, ca.pem)).toBe(1);
    expect(a.notAfter).toBe(wall + HOUR);
    expect(logged.map((l) => l.level)).toEqual(['info']);
    // The new CA is saved for the next run.
    expect(readFileSync(path.join(dir, 'ca.crt'), 'utf8')).toBe(pems(ca.pem)[0]);
    // Less than a certificate's lifetime left of the old CA: the new one signs it, whole.
    wall = end - HOUR / 2;
    const b = await ca.issue('api', HOUR);
    expect(signerIndex(b.cert, ca.pem)).toBe(0);
    expect(b.notAfter).toBe(wall + HOUR);
    // Past the old CA's end: it is no longer trusted.
    wall = end + 1000;
    const c = await ca.issue('api', HOUR);
    expect(pems(ca.pem)).toHaveLength(1);
    expect(signerIndex(c.cert, ca.pem)).toBe(0);
  });

  it("never issues a certificate that has ended, even after sleeping past the CA's end", async () => {
    let wall = Date.now();
    const ca = await MeshCa.open(dir, PROJECT, { now: () => wall });
    wall = validTo(ca.pem) + DAY;
    const issued = await ca.issue('api', HOUR);
    expect(issued.notAfter).toBe(wall + HOUR);
    expect(validTo(issued.cert)).toBeGreaterThan(wall);
    expect(signerIndex(issued.cert, ca.pem)).toBe(0);
    expect(validTo(ca.pem)).toBeGreaterThan(wall);
  });

  it('lets sidecars holding both CAs talk, whichever signed each side', async () => {
    const now = Date.now();
    await writeCa(dir, now - 345 * DAY, now + 20 * DAY);
    let wall = now - 40 * DAY; // the CA then has 60 days left: kept
    const ca = await MeshCa.open(dir, PROJECT, { now: () => wall });
    wall = now;
    // 20 days left of the old CA, after a new one: an hour's certificate from the old, 24 days' from the new.
    const fromOld = await ca.issue('web', HOUR);
    const fromNew = await ca.issue('api', 24 * DAY);
    expect([signerIndex(fromOld.cert, ca.pem), signerIndex(fromNew.cert, ca.pem)]).toEqual([1, 0]);
    const material = (issued: Issued, trusted: string) => ({
      ca: trusted,
      cert: issued.cert,
      key: issued.key,
    });
    /** A mesh handshake, each side trusting `trusted`: null when it succeeds, else the error. */
    const handshake = async (server: Issued, client: Issued, trusted: string) => {
      const srv = tls.createServer(serverOptions(material(server, trusted)), (socket) => socket.end());
      srv.unref();
      try {
        await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
        return await new Promise<string | null>((resolve) => {
          // Both ends must accept: under TLS 1.3 the client is done before the server checks its certificate.
          let accepted = 0;
          const accept = () => {
            if (++accepted === 2) resolve(null);
          };
          srv.on('secureConnection', accept);
          srv.on('tlsClientError', (error) => resolve(error.message));
          const socket = tls.connect({
            host: '127.0.0.1',
            port: (srv.address() as AddressInfo).port,
            ...meshConnectOptions(material(client, trusted), server.identity),
          });
          socket.on('secureConnect', accept);
          socket.on('error', (error) => resolve(error.message));
        });
      } finally {
        srv.close();
      }
    };
    expect(await handshake(fromOld, fromNew, ca.pem)).toBeNull();
    expect(await handshake(fromNew, fromOld, ca.pem)).toBeNull();
    // A sidecar that trusts only the old CA would refuse the new one's certificates: why both are given.
    expect(await handshake(fromOld, fromNew, pems(ca.pem)[1] as string)).not.toBeNull();
  });
});

describe('renewals', () => {
  /** Timers that run when the test says, and a wall clock that also moves while "asleep" (timers stand still). */
  function sleepyClock(start: number) {
    const timers = new ManualClock();
    let slept = 0;
    return {
      now: () => start + timers.now() + slept,
      setTimeout: (fn: () => void, ms: number) => timers.setTimeout(fn, ms),
      clearTimeout: (timer: unknown) => timers.clearTimeout(timer as TimerHandle | undefined),
      advance: (ms: number) => timers.advance(ms),
      sleep: (ms: number) => {
        slept += ms;
      },
    };
  }

  it("come at half a certificate's life on the wall clock, within seconds of waking from a long sleep", async () => {
    const clock = sleepyClock(Date.now());
    const ca = await MeshCa.open(dir, PROJECT, { now: clock.now });
    const identities = new Identities(ca, () => {}, clock);
    const got: Issued[] = [];
    const { issued, unsubscribe } = await identities.subscribe('api', HOUR, (i) => got.push(i));
    try {
      // Half the lifetime less a second (the clock looked at every 10 s on the way), then that second: the
      // renewal is issued at half the lifetime exactly, not before.
      clock.advance(HOUR / 2 - 1000);
      clock.advance(1000);
      expect(await waitFor(() => got.length === 1)).toBe(true);
      expect(got[0]?.issuedAt).toBe(issued.issuedAt + HOUR / 2);
      // Asleep for two hours: the certificate has ended on the wall clock, while no timer ran.
      clock.sleep(2 * HOUR);
      expect(got[0]!.notAfter).toBeLessThan(clock.now());
      clock.advance(CHECK_INTERVAL_MS);
      expect(await waitFor(() => got.length === 2)).toBe(true);
      expect(got[1]!.notAfter).toBeGreaterThan(clock.now() + HOUR - CHECK_INTERVAL_MS - 1000);
    } finally {
      unsubscribe();
      identities.close();
    }
  });

  it('give every sidecar the new CA to trust as soon as it is made, before any certificate it signs', async () => {
    const clock = sleepyClock(Date.now());
    const ca = await MeshCa.open(dir, PROJECT, { now: clock.now });
    const first = ca.pem;
    const identities = new Identities(ca, () => {}, clock);
    const sent: { service: string; trusted: string; cert: string }[] = [];
    const subscribe = (service: string) =>
      identities.subscribe(service, 6 * HOUR, (i) =>
        sent.push({ service, trusted: identities.caPem, cert: i.cert }),
      );
    const subscriptions = [await subscribe('api'), await subscribe('web')];
    try {
      // Asleep into the CA's last 30 days: woken, every sidecar hears of both CAs with the certificate it
      // has. (The sleep is past the certificates' renewal too: renewals may come before or after.)
      clock.sleep(validTo(first) - CA_RENEW_BEFORE_MS - clock.now() + 1000);
      clock.advance(CHECK_INTERVAL_MS);
      const pushed = () => subscriptions.every((sub) => sent.some((s) => s.cert === sub.issued.cert));
      expect(await waitFor(pushed)).toBe(true);
      expect(new Set(sent.map((s) => s.service))).toEqual(new Set(['api', 'web']));
      for (const s of sent) {
        expect(pems(s.trusted)).toHaveLength(2);
        // Signed by the old CA, which still covers a whole lifetime: the new one signs nothing yet.
        expect(signerIndex(s.cert, s.trusted)).toBe(1);
      }
    } finally {
      for (const s of subscriptions) s.unsubscribe();
      identities.close();
    }
  });
});
