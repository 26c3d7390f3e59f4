import { useMemo } from 'react';
import { renderMarkdown } from '../lib/markdown';

/** Markdown rendered through lib/markdown.ts: what reaches the DOM is already sanitised. */
export function Markdown({ source, label }: { source: string; label?: string }) {
  const html = useMemo(() => renderMarkdown(source), [source]);
  return <div className="markdown" aria-label={label} data-testid="markdown" dangerouslySetInnerHTML={{ __html: html }} />;
}
