// Release notes (Markdown from release/analyze-commits, or a forge request's body) as HTML that is
// safe to put in the page: marked renders, raw HTML in the source is escaped to text, and DOMPurify
// then keeps only a small set of tags; links keep only http(s) targets and open without an opener.
import DOMPurify from 'dompurify';
import { Marked } from 'marked';

const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const marked = new Marked({
  gfm: true,
  breaks: false,
  renderer: {
    // Inline or block HTML in the notes is shown as the text it is, never parsed.
    html: ({ text }) => escapeHtml(text),
  },
});

const ALLOWED_TAGS = ['h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'p', 'br', 'hr', 'ul', 'ol', 'li', 'strong', 'em', 'del', 'code', 'pre',
  'blockquote', 'a', 'table', 'thead', 'tbody', 'tr', 'th', 'td', 'input'];

let purifier: ReturnType<typeof DOMPurify> | null = null;

function purify(): ReturnType<typeof DOMPurify> {
  if (purifier) return purifier;
  const p = DOMPurify(window);
  p.addHook('afterSanitizeAttributes', (node) => {
    if (node.tagName === 'A') {
      const href = node.getAttribute('href') ?? '';
      if (!/^https?:\/\//i.test(href)) node.removeAttribute('href');
      node.setAttribute('rel', 'noopener noreferrer');
      node.setAttribute('target', '_blank');
    }
    if (node.tagName === 'INPUT' && node.getAttribute('type') !== 'checkbox') node.remove();
  });
  purifier = p;
  return p;
}

/** Markdown → sanitised HTML (no script, no event handler, no image, only http/https links). */
export function renderMarkdown(md: string): string {
  const html = marked.parse(md, { async: false });
  return purify().sanitize(html, {
    ALLOWED_TAGS,
    ALLOWED_ATTR: ['href', 'title', 'type', 'checked', 'disabled', 'align'],
    ALLOWED_URI_REGEXP: /^https?:\/\//i,
  });
}

/**
 * The Markdown a forge request plan item carries (`METHOD URL\nAuthorization: ***\n\n<json>` whose
 * JSON has `body` (GitHub, Gitea) or `description` (GitLab)), with the request line; null otherwise.
 */
export function forgeNotesOf(diff: string | undefined): { head: string; notes: string } | null {
  if (!diff) return null;
  const cut = diff.indexOf('\n\n');
  if (cut < 0 || !/^[A-Z]+ \S+/.test(diff)) return null;
  try {
    const body = JSON.parse(diff.slice(cut + 2)) as Record<string, unknown>;
    const notes = typeof body?.body === 'string' ? body.body : typeof body?.description === 'string' ? body.description : null;
    return notes == null ? null : { head: diff.slice(0, cut), notes };
  } catch {
    return null;
  }
}
