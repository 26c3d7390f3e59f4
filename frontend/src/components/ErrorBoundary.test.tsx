// @vitest-environment jsdom
// A page that throws leaves the shell standing with what failed and a way back, not an empty window.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { ErrorBoundary } from './ErrorBoundary';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

function Broken({ fail }: { fail: boolean }) {
  if (fail) throw new Error('definition.spec is undefined');
  return <p>designer</p>;
}

let root: Root;
let host: HTMLElement;
afterEach(() => { act(() => root.unmount()); host.remove(); vi.restoreAllMocks(); });

describe('ErrorBoundary', () => {
  it('shows the error and a way back, and the next route renders again', () => {
    vi.spyOn(console, 'error').mockImplementation(() => undefined);
    host = document.createElement('div');
    document.body.appendChild(host);
    root = createRoot(host);
    act(() => root.render(<ErrorBoundary resetKey="designer" home="#/workflows"><Broken fail /></ErrorBoundary>));
    const alert = host.querySelector('[data-testid="page-error"]');
    expect(alert?.textContent).toContain('Error: definition.spec is undefined');
    expect(host.querySelector<HTMLAnchorElement>('a[href="#/workflows"]')?.textContent).toBe('Back to workflows');
    act(() => root.render(<ErrorBoundary resetKey="workflows" home="#/workflows"><Broken fail={false} /></ErrorBoundary>));
    expect(host.textContent).toBe('designer');
  });
});
