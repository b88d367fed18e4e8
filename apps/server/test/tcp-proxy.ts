import net from 'node:net'

/**
 * A TCP proxy in front of a service (PostgreSQL), so a test can take the service away from one
 * application — every open connection cut, new ones refused — and give it back, without stopping the
 * server the other tests share.
 */
export interface TcpProxy {
  port: number
  /** Cuts every connection through the proxy and refuses new ones (the database "goes down"). */
  cut(): Promise<void>
  /** Accepts connections again, on the same port. */
  restore(): Promise<void>
  close(): Promise<void>
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((client) => {
    const upstream = net.connect(target)
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
      socket.on('error', () => {})
    }
    client.pipe(upstream)
    upstream.pipe(client)
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject)
        resolve()
      })
    })
  await listen(0)
  const port = (server.address() as net.AddressInfo).port
  const cut = async () => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()))
    for (const socket of sockets) socket.destroy()
    await closed
  }
  return {
    port,
    cut,
    restore: () => listen(port),
    close: async () => {
      if (server.listening) await cut()
    },
  }
}

/** The test PostgreSQL URL pointed at a proxy in front of it. */
export async function proxiedPostgresUrl(url: string): Promise<{ url: string; proxy: TcpProxy }> {
  const parsed = new URL(url)
  const proxy = await startTcpProxy({ host: parsed.hostname, port: Number(parsed.port || 5432) })
  parsed.hostname = '127.0.0.1'
  parsed.port = String(proxy.port)
  return { url: parsed.toString(), proxy }
}
