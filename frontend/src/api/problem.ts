import type { Problem, ValidationIssue } from './types';

/** An RFC 9457 problem turned into an Error, so TanStack Query and forms can show it. */
export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem;

  constructor(status: number, problem: Problem) {
    super(problemMessage(status, problem));
    this.name = 'ApiError';
    this.status = status;
    this.problem = problem;
  }

  get issues(): ValidationIssue[] {
    return this.problem.errors ?? [];
  }
}

export function problemMessage(status: number, p: Problem): string {
  const title = p.title ?? `HTTP ${status}`;
  return p.detail && p.detail !== title ? `${title}: ${p.detail}` : title;
}

/** Accepts what a server may send as an error body (problem+json, FastAPI's {detail}, text). */
export function toProblem(status: number, body: unknown): Problem {
  if (body && typeof body === 'object') {
    const b = body as Record<string, unknown>;
    const errors = Array.isArray(b.errors)
      ? (b.errors as unknown[]).map((e) => {
          const o = (e ?? {}) as Record<string, unknown>;
          return { pointer: String(o.pointer ?? ''), message: String(o.message ?? o.msg ?? e) };
        })
      : undefined;
    let detail = b.detail;
    if (Array.isArray(detail)) detail = detail.map((d) => (d as { msg?: string }).msg ?? JSON.stringify(d)).join('; ');
    return {
      type: typeof b.type === 'string' ? b.type : undefined,
      title: typeof b.title === 'string' ? b.title : undefined,
      status: typeof b.status === 'number' ? b.status : status,
      detail: typeof detail === 'string' ? detail : undefined,
      errors,
    };
  }
  return { status, title: `HTTP ${status}`, detail: typeof body === 'string' && body ? body : undefined };
}
