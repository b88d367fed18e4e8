import dgram from 'node:dgram'
import { accessSync, constants } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createEgressPolicy, parseEgressAllow } from '../../platform/egress/egress.ts'
import { createLogger } from '../../platform/logger.ts'
import { createBrowserToolSet } from './browser.tool-set.ts'
import { type BrowserPool, chromiumCandidates, createBrowserPool } from './browser.ts'

// WebRTC talks UDP past the request routing and the context's proxy. A page that builds a peer
// connection to a refused address (STUN, TURN, a remote candidate) must send it nothing (attack
// finding 3), also from a frame it made itself.

const hasChromium = chromiumCandidates.some((path) => {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
})

const peerScript = (target: string, port: number) => `
  const pc = new Peer({ iceServers: [{ urls: 'stun:${target}:${port}' }, { urls: 'turn:${target}:${port}', username: 'u', credential: 'p' }] })
  pc.createDataChannel('x')
  pc.createOffer().then((offer) => pc.setLocalDescription(offer)).then(async () => {
    const sdp = pc.localDescription.sdp.replace('a=setup:actpass', 'a=setup:active')
    await pc.setRemoteDescription({ type: 'answer', sdp })
    await pc.addIceCandidate({ candidate: 'candidate:1 1 udp 2122260223 ${target} ${port} typ host', sdpMid: '0', sdpMLineIndex: 0 })
  }).catch((error) => { document.title = 'rtc error ' + error })`

const page = (
  how: 'window' | 'frame',
  port: number,
) => `<!doctype html><html><head><title>rtc</title></head><body><script>
  let Peer = window.RTCPeerConnection
  if (${how === 'frame'}) {
    const frame = document.createElement('iframe')
    document.body.append(frame)
    Peer = frame.contentWindow.RTCPeerConnection
  }
  try { ${peerScript('127.0.0.1', port)} } catch (error) { document.title = 'no rtc: ' + error }
  setTimeout(() => { const done = document.createElement('p'); done.id = 'done'; done.textContent = 'done'; document.body.append(done) }, 2500)
</script></body></html>`

describe.skipIf(!hasChromium)('the browser and WebRTC', () => {
  let site: http.Server
  let siteUrl: string
  let udp: dgram.Socket
  let udpPort: number
  const packets: Buffer[] = []
  let pool: BrowserPool

  beforeAll(async () => {
    udp = dgram.createSocket('udp4')
    udp.on('message', (message) => packets.push(message))
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve))
    udpPort = udp.address().port
    site = http.createServer((request, response) => {
      response.writeHead(200, { 'content-type': 'text/html' })
      response.end(page(request.url === '/frame' ? 'frame' : 'window', udpPort))
    })
    await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve))
    siteUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}`
    pool = createBrowserPool({ log: createLogger({ level: 'silent' }) })
  })
  afterAll(async () => {
    await pool?.close()
    site?.close()
    udp?.close()
  })

  it('sends no UDP to a refused address, from the page or from a frame it made', async () => {
    const egress = createEgressPolicy(parseEgressAllow(new URL(siteUrl).host))
    const open = createBrowserToolSet(pool).functions.find((fn) => fn.name === 'browser_open')!
    for (const path of ['/', '/frame']) {
      const result = (await open.execute(open.input.parse({ url: `${siteUrl}${path}`, waitFor: '#done' }), {
        tenantId: 't',
        runId: 'r',
        signal: new AbortController().signal,
        egress,
      })) as { title: string }
      expect(result.title).toMatch(/^no rtc: TypeError/)
    }
    expect(packets).toHaveLength(0)
  }, 60_000)
})
