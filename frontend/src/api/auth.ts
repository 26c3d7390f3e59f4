// The token lives in sessionStorage: it survives a reload but not the closing of the tab.
const KEY = 'vwmp.token';
type Listener = (token: string | null) => void;
const listeners = new Set<Listener>();

export function getToken(): string | null {
  return sessionStorage.getItem(KEY);
}

export function setToken(token: string | null): void {
  // Who the previous token was is no longer who is signed in.
  sessionStorage.removeItem(ACTOR_KEY);
  if (token) sessionStorage.setItem(KEY, token);
  else sessionStorage.removeItem(KEY);
  listeners.forEach((l) => l(token));
}

export function onTokenChange(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

// The signed-in token's name (the actor the API writes as `created_by`): from `GET /me` at sign-in,
// and from the answers to this tab's own runs and saves. Null until then.
const ACTOR_KEY = 'vwmp.actor';

export function currentActor(): string | null {
  return sessionStorage.getItem(ACTOR_KEY);
}

export function rememberActor(name: string | null | undefined): void {
  if (name) sessionStorage.setItem(ACTOR_KEY, name);
}
