import { useEffect, useState } from 'react';
import { getToken, onTokenChange, setToken } from './api/auth';
import { useRoute } from './router';
import { LoginPage } from './pages/Login';
import { WorkflowsPage } from './pages/Workflows';
import { DesignerPage } from './pages/Designer';
import { RunsPage } from './pages/Runs';
import { RunPage } from './pages/RunView';
import { ErrorBoundary } from './components/ErrorBoundary';

export function App() {
  const [token, setTok] = useState(getToken());
  useEffect(() => onTokenChange(setTok), []);
  const route = useRoute();
  if (!token) return <LoginPage />;
  const section = route.page === 'run' || route.page === 'runs' ? 'runs' : 'workflows';
  return (
    <div className="shell">
      <nav className="sidebar" aria-label="Main">
        <div className="brand"><span className="logo">◆</span> VWMP</div>
        <a href="#/workflows" className={section === 'workflows' ? 'active' : ''} aria-current={section === 'workflows' ? 'page' : undefined}>
          <span aria-hidden>⬡</span> Workflows
        </a>
        <a href="#/runs" className={section === 'runs' ? 'active' : ''} aria-current={section === 'runs' ? 'page' : undefined}>
          <span aria-hidden>▶</span> Runs
        </a>
        <div className="grow" />
        <button className="sidebar-btn" onClick={() => setToken(null)}>Sign out</button>
      </nav>
      <main className="main">
        <ErrorBoundary resetKey={JSON.stringify(route)} home="#/workflows">
          {route.page === 'workflows' && <WorkflowsPage />}
          {route.page === 'designer' && <DesignerPage name={route.name} template={route.template} />}
          {route.page === 'runs' && <RunsPage search={route} />}
          {route.page === 'run' && <RunPage id={route.id} />}
        </ErrorBoundary>
      </main>
    </div>
  );
}
