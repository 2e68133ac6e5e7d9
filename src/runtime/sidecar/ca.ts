// The project's mesh CA (in <project>/.msup/mesh/, folder 0700, files 0600) and the short-lived
// certificates it issues per service, each naming the service by a SPIFFE id in a URI SAN. A CA is valid a
// year and replaced when less than CA_RENEW_BEFORE_MS of it is left: at open, or in a running msup (the
// old one then stays trusted, and signs what it covers whole, until its end). Node's crypto cannot write
// X.509 certificates: @peculiar/x509 builds them on WebCrypto (ECDSA P-256, native and asynchronous, so
// issuing never stalls the proxy). It needs the reflect-metadata polyfill, imported here, and this file
// is loaded only when the sidecar runtime opens.
import 'reflect-metadata';
import { createPrivateKey, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as x509 from '@peculiar/x509';
import { MsupError } from '../../errors.js';
import { privateDir, replacePrivate } from '../../private-files.js';
import type { LogLevel } from '../../types.js';
import { spiffeId } from './identity.js';

x509.cryptoProvider.set(webcrypto as never);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 24 * 3_600_000;
/** How long a new CA is valid. */
export const CA_LIFETIME_MS = 365 * DAY_MS;
/**
 * How long before its end a CA is replaced: more than the longest certificate lifetime a config may set
 * (a timer's limit, MAX_DURATION_MS, about 24.8 days), so a CA always covers a certificate's whole life.
 */
export const CA_RENEW_BEFORE_MS = 30 * DAY_MS;
/** Certificates start a minute in the past, so a clock a little behind still accepts them. */
const SKEW_MS = 60_000;

export interface Issued {
  cert: string;
  key: string;
  identity: string;
  /** When it was issued and when it ends, on the wall clock (epoch milliseconds). */
  issuedAt: number;
  notAfter: number;
}

export interface MeshCaOptions {
  /** The wall clock (Date.now), which certificates' validity is counted in; tests pass their own. */
  now?: () => number;
  /** msup's log: a CA that could not be used, a new CA made. */
  log?: (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;
}

interface Authority {
  cert: x509.X509Certificate;
  key: CryptoKey;
  pem: string;
  notAfter: number;
}

interface Files {
  cert: string;
  key: string;
}

const serial = () => {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] as number) & 0x7f; // a positive integer
  return bytes.toString('hex');
};

const caName = (project: string) => `CN=msup mesh CA ${project}`;
const iso = (ms: number) => new Date(ms).toISOString();

async function exportKey(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

function readIfThere(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** The CA in `files`; null when there is none yet; else why the one there cannot be used. */
async function readAuthority(files: Files, project: string): Promise<Authority | string | null> {
  try {
    const pem = readIfThere(files.cert);
    const keyPem = readIfThere(files.key);
    if (pem === undefined && keyPem === undefined) return null;
    if (pem === undefined || keyPem === undefined)
      return `${path.basename(pem === undefined ? files.cert : files.key)} is missing`;
    const cert = new x509.X509Certificate(pem);
    if (cert.subject !== caName(project)) return `it is another project's (${cert.subject})`;
    if (!new X509Certificate(pem).checkPrivateKey(createPrivateKey(keyPem)))
      return 'ca.key does not match ca.crt';
    const key = await webcrypto.subtle.importKey(
      'pkcs8',
      x509.PemConverter.decodeFirst(keyPem),
      ALGORITHM,
      false,
      ['sign'],
    );
    return { cert, key, pem, notAfter: cert.notAfter.getTime() };
  } catch (error) {
    return `it could not be read (${(error as Error).message})`;
  }
}

async function createAuthority(project: string, now: number): Promise<Authority & { keyPem: string }> {
  const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: caName(project),
    notBefore: new Date(now - SKEW_MS),
    notAfter: new Date(now + CA_LIFETIME_MS),
    keys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return {
    cert,
    key: keys.privateKey,
    pem: cert.toString('pem'),
    notAfter: cert.notAfter.getTime(),
    keyPem: await exportKey(keys.privateKey),
  };
}

/**
 * Each file replaced whole (a temporary file renamed over it). Should msup die between the two, the key
 * no longer matches the certificate, which the next open notices.
 */
function writeAuthority(files: Files, made: { pem: string; keyPem: string }): void {
  replacePrivate(files.key, made.keyPem);
  replacePrivate(files.cert, made.pem);
}

export class MeshCa {
  /** The CA that signs. */
  #signer: Authority;
  /** The CA it replaced in this run: trusted until its end, and signing what it still covers whole. */
  #retiring: Authority | undefined;
  #renewing: Promise<void> | undefined;
  #renewFailed = false;
  readonly #project: string;
  readonly #files: Files;
  readonly #now: () => number;
  readonly #log: NonNullable<MeshCaOptions['log']>;

  private constructor(signer: Authority, project: string, files: Files, options: MeshCaOptions) {
    this.#signer = signer;
    this.#project = project;
    this.#files = files;
    this.#now = options.now ?? Date.now;
    this.#log = options.log ?? (() => {});
  }

  /**
   * The CA in `dir`; a new one when there is none, when it cannot be used (unreadable, another project's,
   * its key not its certificate's: said in the log) or when less than CA_RENEW_BEFORE_MS of it is left.
   */
  static async open(dir: string, project: string, options: MeshCaOptions = {}): Promise<MeshCa> {
    const now = options.now ?? Date.now;
    privateDir(dir);
    const files = { cert: path.join(dir, 'ca.crt'), key: path.join(dir, 'ca.key') };
    const found = await readAuthority(files, project);
    if (typeof found === 'object' && found !== null && found.notAfter - now() >= CA_RENEW_BEFORE_MS)
      return new MeshCa(found, project, files, options);
    const made = await createAuthority(project, now());
    writeAuthority(files, made);
    if (typeof found === 'string')
      options.log?.('warn', `the mesh CA could not be used (${found}): made a new one`, { dir });
    else if (found)
      options.log?.('info', 'the mesh CA was near its end: made a new one', {
        dir,
        ended: iso(found.notAfter),
        until: iso(made.notAfter),
      });
    return new MeshCa(made, project, files, options);
  }

  /** The CAs a sidecar trusts: the one that signs, and the one it replaced in this run until its end. */
  get pem(): string {
    return this.#retiring ? `${this.#signer.pem}\n${this.#retiring.pem}` : this.#signer.pem;
  }

  /**
   * Makes a new CA when this one has less than CA_RENEW_BEFORE_MS left (on the wall clock). The old one
   * stays in `pem` and signs the certificates it covers whole, so sidecars get the new CA to trust days
   * before any certificate it signed is shown to them. A failure is logged (once) and thrown.
   */
  renewIfDue(): Promise<void> {
    const now = this.#now();
    if (this.#retiring && this.#retiring.notAfter <= now) this.#retiring = undefined;
    if (this.#signer.notAfter - now >= CA_RENEW_BEFORE_MS) return Promise.resolve();
    this.#renewing ??= this.#renew().finally(() => {
      this.#renewing = undefined;
    });
    return this.#renewing;
  }

  async #renew(): Promise<void> {
    let made: Awaited<ReturnType<typeof createAuthority>>;
    try {
      made = await createAuthority(this.#project, this.#now());
    } catch (error) {
      if (!this.#renewFailed)
        this.#log('error', 'could not make a new mesh CA', {
          ends: iso(this.#signer.notAfter),
          error: (error as Error).message,
        });
      this.#renewFailed = true;
      throw error;
    }
    this.#renewFailed = false;
    const old = this.#signer;
    this.#retiring = old.notAfter > this.#now() ? old : undefined;
    this.#signer = made;
    this.#log('info', 'the mesh CA is near its end: made a new one (the old one stays trusted until then)', {
      ends: iso(old.notAfter),
      until: iso(made.notAfter),
    });
    try {
      writeAuthority(this.#files, made);
    } catch (error) {
      this.#log('warn', 'could not save the new mesh CA (this run uses it all the same)', {
        error: (error as Error).message,
      });
    }
  }

  /**
   * A certificate for `service`, valid for `lifetimeMs` from now, usable as server and as client. Never
   * one that has already ended: MSUP_MESH_CA when the CA has ended and no new one could be made.
   */
  async issue(service: string, lifetimeMs: number): Promise<Issued> {
    // A failure is logged there; the CA serves on while it lasts.
    await this.renewIfDue().catch(() => {});
    const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
    const identity = spiffeId(this.#project, service);
    const now = this.#now();
    const retiring = this.#retiring;
    const by = retiring && retiring.notAfter - now >= lifetimeMs ? retiring : this.#signer;
    const notAfter = Math.min(now + lifetimeMs, by.notAfter);
    if (notAfter <= now)
      throw new MsupError(
        'MSUP_MESH_CA',
        `the project's mesh CA ended on ${iso(by.notAfter)} and no new one could be made, so no certificate for ${service}`,
        { service },
      );
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: `CN=${service.replace(/[,=+<>#;"\\]/g, '_')}`,
      issuer: by.cert.subject,
      notBefore: new Date(now - SKEW_MS),
      notAfter: new Date(notAfter),
      signingKey: by.key,
      publicKey: keys.publicKey,
      signingAlgorithm: ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([
          x509.ExtendedKeyUsage.serverAuth,
          x509.ExtendedKeyUsage.clientAuth,
        ]),
        // Not critical: the subject (CN) is not empty (RFC 5280, 4.2.1.6).
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: identity }], false),
        await x509.AuthorityKeyIdentifierExtension.create(by.cert),
      ],
    });
    return {
      cert: cert.toString('pem'),
      key: await exportKey(keys.privateKey),
      identity,
      issuedAt: now,
      notAfter,
    };
  }
}

/** What Node's own parser reads of a PEM certificate (for checks and tests). */
export function describeCertificate(pem: string): {
  subjectAltName: string | undefined;
  validTo: number;
  issuer: string;
} {
  const cert = new X509Certificate(pem);
  return { subjectAltName: cert.subjectAltName, validTo: Date.parse(cert.validTo), issuer: cert.issuer };
}
