// The project's mesh CA (in <project>/.msup/mesh/, folder 0700, files 0600) and the short-lived
// certificates it issues per service, each naming the service by a SPIFFE id in a URI SAN. Node's crypto
// cannot write X.509 certificates: @peculiar/x509 builds them on WebCrypto (ECDSA P-256, native and
// asynchronous, so issuing never stalls the proxy). It needs the reflect-metadata polyfill, imported
// here, and this file is loaded only when the sidecar runtime opens.
import 'reflect-metadata';
import { randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { closeSync, readFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import * as x509 from '@peculiar/x509';
import { openPrivate, privateDir } from '../../private-files.js';
import { spiffeId } from './identity.js';

x509.cryptoProvider.set(webcrypto as never);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
/** How long a new CA is valid, and how long before its end a new one is made. */
export const CA_LIFETIME_MS = 365 * 24 * 3_600_000;
const CA_RENEW_BEFORE_MS = 24 * 3_600_000;
/** Certificates start a minute in the past, so a clock a little behind still accepts them. */
const SKEW_MS = 60_000;

export interface Issued {
  cert: string;
  key: string;
  identity: string;
  notAfter: number;
}

const serial = () => {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] as number) & 0x7f; // a positive integer
  return bytes.toString('hex');
};

async function exportKey(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

/** Written 0600, never through a link (the folder is msup's user's own, 0700). */
function writePrivate(file: string, content: string): void {
  const fd = openPrivate(file, 'w');
  try {
    writeSync(fd, content);
  } finally {
    closeSync(fd);
  }
}

export class MeshCa {
  readonly pem: string;
  readonly #cert: x509.X509Certificate;
  readonly #key: CryptoKey;
  readonly #project: string;

  private constructor(pem: string, cert: x509.X509Certificate, key: CryptoKey, project: string) {
    this.pem = pem;
    this.#cert = cert;
    this.#key = key;
    this.#project = project;
  }

  /** The CA in `dir`, or a new one when it is missing, unreadable or near its end. */
  static async open(dir: string, project: string): Promise<MeshCa> {
    privateDir(dir);
    const certFile = path.join(dir, 'ca.crt');
    const keyFile = path.join(dir, 'ca.key');
    try {
      const pem = readFileSync(certFile, 'utf8');
      const keyPem = readFileSync(keyFile, 'utf8');
      const cert = new x509.X509Certificate(pem);
      if (
        cert.notAfter.getTime() - Date.now() > CA_RENEW_BEFORE_MS &&
        cert.subject === `CN=msup mesh CA ${project}`
      ) {
        const key = await webcrypto.subtle.importKey(
          'pkcs8',
          x509.PemConverter.decodeFirst(keyPem),
          ALGORITHM,
          false,
          ['sign'],
        );
        return new MeshCa(pem, cert, key, project);
      }
    } catch {
      // missing or unreadable: a new CA
    }
    const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
    const now = Date.now();
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serial(),
      name: `CN=msup mesh CA ${project}`,
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
    const pem = cert.toString('pem');
    writePrivate(keyFile, await exportKey(keys.privateKey));
    writePrivate(certFile, pem);
    return new MeshCa(pem, cert, keys.privateKey, project);
  }

  /** A certificate for `service`, valid for `lifetimeMs` from now, usable as server and as client. */
  async issue(service: string, lifetimeMs: number): Promise<Issued> {
    const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
    const identity = spiffeId(this.#project, service);
    const now = Date.now();
    const notAfter = Math.min(now + lifetimeMs, this.#cert.notAfter.getTime());
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: `CN=${service.replace(/[,=+<>#;"\\]/g, '_')}`,
      issuer: this.#cert.subject,
      notBefore: new Date(now - SKEW_MS),
      notAfter: new Date(notAfter),
      signingKey: this.#key,
      publicKey: keys.publicKey,
      signingAlgorithm: ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([
          x509.ExtendedKeyUsage.serverAuth,
          x509.ExtendedKeyUsage.clientAuth,
        ]),
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: identity }], true),
        await x509.AuthorityKeyIdentifierExtension.create(this.#cert),
      ],
    });
    return { cert: cert.toString('pem'), key: await exportKey(keys.privateKey), identity, notAfter };
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
