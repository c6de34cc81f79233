// The local control plane's own PKI, made with openssl (docs/testing.md):
// one throw-away CA, the apiserver's serving certificate (Go ignores the CN, so the IP SAN 127.0.0.1
// is what makes it valid), an admin client certificate in group system:masters (the apiserver maps
// O= to groups), and the RSA key pair that signs service-account tokens.
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

export interface Pki {
  caCert: string
  apiserverCert: string
  apiserverKey: string
  adminCert: string
  adminKey: string
  serviceAccountKey: string
  serviceAccountPub: string
}

function openssl (dir: string, args: readonly string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })
}

function ecRequest (dir: string, keyOut: string, out: string, subject: string, x509: boolean): void {
  openssl(dir, ['req', ...(x509 ? ['-x509', '-days', '7'] : []), '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
    '-nodes', '-keyout', keyOut, '-out', out, '-subj', subject])
}

function sign (dir: string, name: string, extensions: string): void {
  writeFileSync(join(dir, `${name}.ext`), extensions)
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
    '-days', '7', '-out', `${name}.crt`, '-extfile', `${name}.ext`])
}

export function generatePki (dir: string): Pki {
  ecRequest(dir, 'ca.key', 'ca.crt', '/CN=sidecar-injector-e2e-ca', true)
  ecRequest(dir, 'apiserver.key', 'apiserver.csr', '/CN=kube-apiserver', false)
  sign(dir, 'apiserver', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n')
  ecRequest(dir, 'admin.key', 'admin.csr', '/O=system:masters/CN=e2e-admin', false)
  sign(dir, 'admin', 'extendedKeyUsage=clientAuth\n')
  openssl(dir, ['genrsa', '-out', 'sa.key', '2048'])
  openssl(dir, ['rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'])
  return {
    caCert: join(dir, 'ca.crt'),
    apiserverCert: join(dir, 'apiserver.crt'),
    apiserverKey: join(dir, 'apiserver.key'),
    adminCert: join(dir, 'admin.crt'),
    adminKey: join(dir, 'admin.key'),
    serviceAccountKey: join(dir, 'sa.key'),
    serviceAccountPub: join(dir, 'sa.pub')
  }
}
