import type { FastifyInstance } from 'fastify'

// The API speaks JSON only: every other content type is refused with 415. An empty body with
// `Content-Type: application/json` counts as no body, because many HTTP clients send that header on
// a bodiless POST (cancel, retry) and refusing it would only surprise them.
export function registerJsonOnly(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body.toString()
    if (text.trim() === '') {
      done(null, undefined)
      return
    }
    parseJson(request, text, done)
  })
}
