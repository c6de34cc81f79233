// A minimal HTTPS GET for readiness polls. Node 20's fetch cannot present client certificates,
// so this uses node:https with the CA (and the admin client certificate for the apiserver).
import { request } from 'node:https'

export interface TlsMaterial { ca: string | Buffer, cert?: string | Buffer, key?: string | Buffer }

export async function httpsGet (url: string, tls: TlsMaterial, timeoutMs = 2_000): Promise<{ status: number, body: string }> {
  return await new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET', ...tls, timeout: timeoutMs, agent: false }, res => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body }) })
      res.on('error', reject)
    })
    req.on('timeout', () => { req.destroy(new Error(`GET ${url} timed out after ${timeoutMs} ms`)) })
    req.on('error', reject)
    req.end()
  })
}
