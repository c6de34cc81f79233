// Loopback ports for tests that start listeners: one the system just freed, and whether anything still
// listens on one.
import { createConnection, createServer } from 'node:net'

/** A free TCP port on 127.0.0.1 (listen on 0, read it, close). Racy by nature, as any such helper. */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer().once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => { resolve(typeof address === 'object' && address !== null ? address.port : 0) })
    })
  })
}

/** 'refused' once nothing listens on the port any more. */
export async function connectOutcome (port: number): Promise<'connected' | 'refused'> {
  return await new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port }, () => { socket.destroy(); resolve('connected') })
    socket.on('error', (err: NodeJS.ErrnoException) => { err.code === 'ECONNREFUSED' ? resolve('refused') : reject(err) })
  })
}
