import DOMPurify from 'dompurify'
import { marked } from 'marked'

// Model output is untrusted: Markdown to HTML with marked, then DOMPurify keeps only an allow-list of
// tags and attributes. No `class`, `id` or `style`: with them, output could borrow the dashboard's own
// utility classes (`fixed inset-0 z-50 …`) and draw a full-screen fake "session expired" panel with a
// phishing link (issue 11, item 11); ids could clobber the page's. Links only to http(s) and mailto,
// opened in a new tab without the opener or the referrer. The box the HTML goes into is contained as
// well (run-detail.tsx), in case anything positioned ever got through.

const allowedTags = [
  'a',
  'b',
  'blockquote',
  'br',
  'code',
  'del',
  'em',
  'h1',
  'h2',
  'h3',
  'h4',
  'h5',
  'h6',
  'hr',
  'i',
  'kbd',
  'li',
  'ol',
  'p',
  'pre',
  's',
  'strong',
  'sub',
  'sup',
  'table',
  'tbody',
  'td',
  'th',
  'thead',
  'tr',
  'ul',
]
/** `href` and `title` of links, `start` of numbered lists, `align` of table cells (GFM). */
const allowedAttributes = ['href', 'title', 'start', 'align']
/** Absolute http and https links and mailto; relative, fragment, javascript: and data: links lose their href. */
const allowedUri = /^(?:https?:\/\/|mailto:)/i

const purify = DOMPurify()
purify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A') {
    node.setAttribute('target', '_blank')
    node.setAttribute('rel', 'noopener noreferrer nofollow')
  }
})

export function renderMarkdown(text: string): string {
  const html = marked.parse(text, { async: false, gfm: true, breaks: true })
  return purify.sanitize(html, {
    ALLOWED_TAGS: allowedTags,
    ALLOWED_ATTR: allowedAttributes,
    ALLOWED_URI_REGEXP: allowedUri,
    // DOMPurify checks every attribute's value against the URI pattern unless told it holds no URI.
    ADD_URI_SAFE_ATTR: ['start', 'align'],
    ALLOW_DATA_ATTR: false,
    ALLOW_ARIA_ATTR: false,
    ALLOW_UNKNOWN_PROTOCOLS: false,
  })
}
