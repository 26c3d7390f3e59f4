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

/**
 * The problem+json body the gateway sends with every error. Anything else (a proxy's error page, an
 * empty body) is not from the gateway, so it becomes a problem named after the HTTP status.
 */
export function toProblem(status: number, body: unknown): Problem {
  if (isProblem(body)) return body;
  return { type: 'about:blank', title: `HTTP ${status}`, status, detail: typeof body === 'string' ? body : '' };
}

function isProblem(body: unknown): body is Problem {
  return typeof body === 'object' && body !== null
    && 'type' in body && typeof body.type === 'string'
    && 'title' in body && typeof body.title === 'string'
    && 'status' in body && typeof body.status === 'number'
    && 'detail' in body && typeof body.detail === 'string'
    && (!('errors' in body) || Array.isArray(body.errors));
}
