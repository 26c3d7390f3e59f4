// A tiny hash router: the gateway serves index.html for every path, and hashes keep links stable.
import { useEffect, useState } from 'react';
import { parseRunSearch, type RunSearch } from './lib/runSearch';

export type Route =
  | { page: 'workflows' }
  | { page: 'designer'; name: string | null; template?: string }
  | ({ page: 'runs' } & RunSearch)
  | { page: 'run'; id: string };

export function parseRoute(hash: string): Route {
  const [path, qs] = hash.replace(/^#/, '').split('?');
  const q = new URLSearchParams(qs ?? '');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'workflows' && parts[1] === 'new') return { page: 'designer', name: null, template: q.get('template') ?? undefined };
  if (parts[0] === 'workflows' && parts[1]) return { page: 'designer', name: parts[1] };
  if (parts[0] === 'runs' && parts[1]) return { page: 'run', id: parts[1] };
  if (parts[0] === 'runs') return { page: 'runs', ...parseRunSearch(q) };
  return { page: 'workflows' };
}

export function navigate(path: string): void {
  window.location.hash = path;
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}
