import createClient, { type Middleware } from 'openapi-fetch';
import type { paths } from './schema';
import { getToken, setToken } from './auth';
import { ApiError, toProblem } from './problem';

const auth: Middleware = {
  onRequest({ request }) {
    const token = getToken();
    if (token) request.headers.set('Authorization', `Bearer ${token}`);
    return request;
  },
  onResponse({ response }) {
    // A revoked or expired token sends the user back to the login screen.
    if (response.status === 401) setToken(null);
    return response;
  },
};

export const api = createClient<paths>({ baseUrl: '' });
api.use(auth);

/** What openapi-fetch answers: the typed body of a success, or the error body. */
interface FetchResult {
  data?: unknown;
  error?: unknown;
  response: Response;
}

/** The body of a successful call; throws ApiError with the problem details otherwise. */
export async function unwrap<R extends FetchResult>(call: Promise<R>): Promise<NonNullable<R['data']>> {
  const { data, error, response } = await call;
  if (error !== undefined || !response.ok || data === undefined || data === null) {
    throw new ApiError(response.status, toProblem(response.status, error));
  }
  return data;
}

export function wsUrl(path: string, query: Record<string, string | number | undefined>): string {
  const proto = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
  const token = getToken();
  if (token) params.set('token', token);
  return `${proto}//${window.location.host}${path}?${params}`;
}
