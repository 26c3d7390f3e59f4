import { useState } from 'react';
import { rememberActor, setToken } from '../api/auth';

/** Checks the token with `GET /me` before keeping it, and remembers whose it is. */
export function LoginPage() {
  const [token, setValue] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const r = await fetch('/api/v1/me', { headers: { Authorization: `Bearer ${token.trim()}` } });
      if (r.status === 401 || r.status === 403) setError('This token was not accepted. Use the admin token from $VWMP_DATA_DIR/admin-token or one made with `vwmp token create`.');
      else if (!r.ok) setError(`The server answered ${r.status}. Is the gateway running?`);
      else {
        const me = (await r.json()) as { name?: string };
        setToken(token.trim());
        rememberActor(me.name);
      }
    } catch {
      setError('Cannot reach the server.');
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="login">
      <form className="login-card" onSubmit={submit}>
        <div className="brand big"><span className="logo">◆</span> VWMP</div>
        <p className="muted">Visual Workflow Management Platform</p>
        <label htmlFor="token">Access token</label>
        <input id="token" type="password" autoComplete="off" value={token} onChange={(e) => setValue(e.target.value)} placeholder="paste your token" autoFocus />
        {error && <div className="error-box" role="alert">{error}</div>}
        <button className="btn primary block" type="submit" disabled={busy || !token.trim()}>{busy ? 'Checking…' : 'Sign in'}</button>
        <p className="muted small-text">The token is kept in this tab's session storage only.</p>
      </form>
    </div>
  );
}
