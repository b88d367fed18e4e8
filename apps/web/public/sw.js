// openOrchestrator's service worker: makes the dashboard installable and opens its shell offline.
// The API is never cached (data must be live, and answers carry a workspace's data); hashed assets
// are cached on first use, the page itself is fetched fresh and falls back to the cached shell.
const shell = 'openorch-shell-v1'

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches.open(shell).then((cache) => cache.addAll(['/', '/manifest.webmanifest', '/icon.svg'])),
  )
  self.skipWaiting()
})

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((name) => name !== shell).map((name) => caches.delete(name))))
      .then(() => self.clients.claim()),
  )
})

self.addEventListener('fetch', (event) => {
  const request = event.request
  const url = new URL(request.url)
  if (request.method !== 'GET' || url.origin !== self.location.origin) return
  if (/^\/(api|docs|health|ready|metrics)(\/|$)/.test(url.pathname)) return
  if (request.mode === 'navigate') {
    event.respondWith(fetch(request).catch(() => caches.match('/')))
    return
  }
  if (url.pathname.startsWith('/assets/')) {
    event.respondWith(
      caches.match(request).then(
        (hit) =>
          hit ||
          fetch(request).then((response) => {
            const copy = response.clone()
            if (response.ok) caches.open(shell).then((cache) => cache.put(request, copy))
            return response
          }),
      ),
    )
  }
})

// Web Push (issue 14): the server sends `{ title, body, url, eventId }`, encrypted for this browser
// (components/push-toggle.tsx subscribes it). One notification per event: a repeat replaces it.
self.addEventListener('push', (event) => {
  let data = {}
  try {
    data = event.data ? event.data.json() : {}
  } catch {
    data = { body: event.data ? event.data.text() : '' }
  }
  const title = typeof data.title === 'string' && data.title ? data.title : 'openOrchestrator'
  event.waitUntil(
    self.registration.showNotification(title, {
      body: typeof data.body === 'string' ? data.body : '',
      icon: '/icon-192.png',
      badge: '/icon-192.png',
      ...(data.eventId ? { tag: `openorch-${data.eventId}` } : {}),
      data: { url: typeof data.url === 'string' ? data.url : '/' },
    }),
  )
})

// A click opens the run (or what the notification is about) in a dashboard tab: one already open is
// focused and sent there, else a new one. Only this dashboard's pages: another origin's link keeps its
// path on this one.
self.addEventListener('notificationclick', (event) => {
  event.notification.close()
  let target
  try {
    target = new URL(event.notification.data?.url || '/', self.location.origin)
  } catch {
    target = new URL('/', self.location.origin)
  }
  const href = new URL(`${target.pathname}${target.search}${target.hash}`, self.location.origin).href
  event.waitUntil(
    self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then((windows) => {
      const open = windows.find((client) => new URL(client.url).origin === self.location.origin)
      if (!open) return self.clients.openWindow(href)
      return open
        .focus()
        .then((client) => client.navigate(href))
        .catch(() => self.clients.openWindow(href))
    }),
  )
})
