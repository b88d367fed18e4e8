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
