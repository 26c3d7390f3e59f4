// @vitest-environment jsdom
import { describe, expect, it } from 'vitest';
import { forgeNotesOf, renderMarkdown } from './markdown';

const NOTES = `## Features

- **api:** add the export route (a1b2c3d) #12

## Bug fixes

- fix the login [redirect](https://example.com/x) (d4e5f6a)
`;

function dom(html: string): HTMLElement {
  const div = document.createElement('div');
  div.innerHTML = html;
  return div;
}

describe('release notes as Markdown', () => {
  it('renders headings, lists, emphasis and http links that open without an opener', () => {
    const d = dom(renderMarkdown(NOTES));
    expect([...d.querySelectorAll('h2')].map((h) => h.textContent)).toEqual(['Features', 'Bug fixes']);
    expect(d.querySelectorAll('li')).toHaveLength(2);
    expect(d.querySelector('strong')?.textContent).toBe('api:');
    const a = d.querySelector('a')!;
    expect(a.getAttribute('href')).toBe('https://example.com/x');
    expect(a.getAttribute('rel')).toBe('noopener noreferrer');
    expect(d.textContent).toContain('#12');
  });

  it('lets no raw HTML, event handler, image or javascript: link through', () => {
    const hostile = [
      '<img src=x onerror="alert(1)">',
      '<script>alert(2)</script>',
      '[click](javascript:alert(3))',
      '[data](data:text/html;base64,PHNjcmlwdD4=)',
      '<a href="javascript:alert(4)">raw</a>',
      '![pic](https://evil.example/p.png)',
      '<iframe src="https://evil.example"></iframe>',
      '<svg onload=alert(5)>',
      '[ok](HTTPS://example.com/fine)',
    ].join('\n\n');
    const html = renderMarkdown(hostile);
    const d = dom(html);
    expect(d.querySelectorAll('img, script, iframe, svg, object, embed, style')).toHaveLength(0);
    for (const el of d.querySelectorAll('*')) {
      for (const attr of el.attributes) expect(attr.name.startsWith('on')).toBe(false);
    }
    const hrefs = [...d.querySelectorAll('a')].map((a) => a.getAttribute('href')).filter(Boolean);
    expect(hrefs).toEqual(['HTTPS://example.com/fine']);
    for (const el of d.querySelectorAll('*')) {
      for (const attr of el.attributes) expect(attr.value).not.toMatch(/javascript:|data:/i);
    }
    expect(html).not.toMatch(/<(img|script|iframe|svg)\b/i);
    // The raw HTML is shown as the text it was.
    expect(d.textContent).toContain('<img src=x onerror="alert(1)">');
  });

  it('finds the notes in a forge request plan item (GitHub body, GitLab description)', () => {
    const gh = forgeNotesOf('POST https://api.github.com/repos/o/r/releases\nAuthorization: ***\n\n' + JSON.stringify({ tag_name: 'v1', body: NOTES }));
    expect(gh).toEqual({ head: 'POST https://api.github.com/repos/o/r/releases\nAuthorization: ***', notes: NOTES });
    expect(forgeNotesOf('PUT https://gl/api/v4/projects/1/releases/v1\nAuthorization: ***\n\n{"description": "x"}')?.notes).toBe('x');
    expect(forgeNotesOf('--- a/CHANGELOG.md\n+++ b/CHANGELOG.md\n\n+x')).toBeNull();
    expect(forgeNotesOf('POST u\n\n{"name": "no notes"}')).toBeNull();
    expect(forgeNotesOf(undefined)).toBeNull();
  });
});
