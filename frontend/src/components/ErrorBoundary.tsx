// A page that throws while rendering would otherwise leave an empty window (React unmounts the whole
// tree). The boundary keeps the shell, says what failed, and offers a way back.
import { Component, type ErrorInfo, type ReactNode } from 'react';

interface Props {
  children: ReactNode;
  /** Changing it (a new route) clears the error: the next page gets its chance. */
  resetKey: string;
  /** Where "Back" leads, e.g. `#/workflows`. */
  home: string;
}

interface State {
  error: Error | null;
  stack: string;
  key: string;
}

export class ErrorBoundary extends Component<Props, State> {
  state: State = { error: null, stack: '', key: this.props.resetKey };

  static getDerivedStateFromError(error: unknown): Partial<State> {
    return { error: error instanceof Error ? error : new Error(String(error)) };
  }

  static getDerivedStateFromProps(props: Props, state: State): Partial<State> | null {
    return props.resetKey !== state.key ? { error: null, stack: '', key: props.resetKey } : null;
  }

  componentDidCatch(error: Error, info: ErrorInfo): void {
    console.error('page failed:', error, info.componentStack);
    this.setState({ stack: info.componentStack ?? '' });
  }

  render() {
    const { error, stack } = this.state;
    if (!error) return this.props.children;
    return (
      <div className="page crash" role="alert" data-testid="page-error">
        <h1>This page stopped working</h1>
        <p>What is saved on the server is not affected (unsaved edits on this page may be lost). What failed:</p>
        <pre className="crash-message">{error.name}: {error.message}</pre>
        {stack && (
          <details>
            <summary>Where it failed (for a bug report)</summary>
            <pre className="crash-stack">{stack.trim()}</pre>
          </details>
        )}
        <div className="row gap">
          <button className="btn primary" onClick={() => this.setState({ error: null, stack: '' })}>Try again</button>
          <a className="btn" href={this.props.home} onClick={() => this.setState({ error: null, stack: '' })}>Back to workflows</a>
          <button className="btn" onClick={() => window.location.reload()}>Reload the app</button>
        </div>
      </div>
    );
  }
}
