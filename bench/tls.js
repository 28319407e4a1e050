'use strict';
/**
 * A throw-away TLS certificate for the "Nest TCP + TLS" transport: a self-signed ECDSA P-256
 * certificate for 127.0.0.1, made with the `openssl` command in a temporary folder at the start
 * of a run and removed at its end. No key material is kept.
 */
const { execFileSync } = require('child_process');
const { mkdtempSync, rmSync } = require('fs');
const { tmpdir } = require('os');
const { join } = require('path');

/**
 * `{ dir, keyPath, certPath, remove() }`, or `{ skip: reason }` when no certificate can be made
 * (no openssl, or it failed).
 */
function makeCertificate() {
  let dir;
  try {
    dir = mkdtempSync(join(tmpdir(), 'nestjs-iroh-bench-tls-'));
    const keyPath = join(dir, 'key.pem');
    const certPath = join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        keyPath,
        '-out',
        certPath,
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 },
    );
    return { dir, keyPath, certPath, remove: () => rmSync(dir, { recursive: true, force: true }) };
  } catch (err) {
    if (dir) rmSync(dir, { recursive: true, force: true });
    const reason =
      err.code === 'ENOENT'
        ? 'the openssl command is not installed'
        : `openssl failed: ${
            String(err.stderr || err.message)
              .trim()
              .split('\n')[0]
          }`;
    return { skip: reason };
  }
}

module.exports = { makeCertificate };
