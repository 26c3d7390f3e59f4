import { useTemplates, useWorkflows } from '../api/hooks';
import { normalizeDefinition } from '../lib/definition';
import { navigate } from '../router';
import { ErrorBox, relTime } from '../components/common';

export function WorkflowsPage() {
  const workflows = useWorkflows();
  const templates = useTemplates();
  return (
    <div className="page">
      <header className="page-header">
        <h1>Workflows</h1>
        <button className="btn primary" onClick={() => navigate('/workflows/new')} data-testid="new-workflow">+ New workflow</button>
      </header>
      <ErrorBox error={workflows.error} />
      {workflows.isLoading && <p className="muted">Loading…</p>}
      {workflows.data && workflows.data.length === 0 && <p className="muted">No workflows yet: start from a template below or from scratch.</p>}
      {workflows.data && workflows.data.length > 0 && (
        <table className="table">
          <thead><tr><th>Name</th><th>Type</th><th>Steps</th><th>Version</th><th>Saved</th><th /></tr></thead>
          <tbody>
            {workflows.data.map((w) => (
              <tr key={w.name} className="clickable" onClick={() => navigate(`/workflows/${encodeURIComponent(w.name)}`)}>
                <td><a href={`#/workflows/${encodeURIComponent(w.name)}`} onClick={(e) => e.stopPropagation()}><strong>{w.name}</strong></a>
                  <div className="muted small-text">{normalizeDefinition(w.definition).metadata.description}</div></td>
                <td>{normalizeDefinition(w.definition).metadata.type ?? '—'}</td>
                <td>{normalizeDefinition(w.definition).spec.steps.length}</td>
                <td><span className="version-pill">v{w.version}</span></td>
                <td>{relTime(w.created_at)} <span className="muted">by {w.created_by}</span></td>
                <td><a className="btn small" href={`#/runs?workflow=${encodeURIComponent(w.name)}`} onClick={(e) => e.stopPropagation()}>Runs</a></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2 className="section-title">Start from a template</h2>
      <ErrorBox error={templates.error} />
      <div className="cards">
        {(templates.data ?? []).map((t) => (
          <button key={`${t.plugin}/${t.name}`} className="card" onClick={() => navigate(`/workflows/new?template=${encodeURIComponent(t.name)}`)}
            data-testid={`template-${t.name}`}>
            <span className="card-kicker">{t.workflow_type} · {t.plugin}</span>
            <span className="card-title">{t.title}</span>
            <span className="card-text">{t.description}</span>
            <span className="card-meta">{normalizeDefinition(t.definition).spec.steps.length} steps</span>
          </button>
        ))}
        <button className="card blank" onClick={() => navigate('/workflows/new')}>
          <span className="card-title">Blank workflow</span>
          <span className="card-text">Drag steps from the palette and connect them.</span>
        </button>
      </div>
    </div>
  );
}
