// Server state through TanStack Query; every call goes through the typed client.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, itemsOf, unwrap } from './client';
import { toLogLine } from '../lib/runState';
import type {
  LogLine, Page, Run, RunEvent, StepType, Template, ValidationResult, Workflow, WorkflowDefinition,
} from './types';

type Json = Record<string, unknown>;

/** A definition is a free-form JSON document to the API (its schema is served separately). */
function asDocument(definition: WorkflowDefinition): never {
  return definition as never;
}

export function useStepTypes() {
  return useQuery({
    queryKey: ['step-types'],
    queryFn: async () => itemsOf<StepType>(await unwrap(api.GET('/api/v1/step-types'))),
    staleTime: 60_000,
  });
}

export function useTemplates() {
  return useQuery({
    queryKey: ['templates'],
    queryFn: async () => itemsOf<Template>(await unwrap(api.GET('/api/v1/templates'))),
    staleTime: 60_000,
  });
}

export function useWorkflows() {
  return useQuery({
    queryKey: ['workflows'],
    queryFn: async () => itemsOf<Workflow>(await unwrap(api.GET('/api/v1/workflows'))),
  });
}

export function useWorkflow(name: string | null) {
  return useQuery({
    queryKey: ['workflow', name],
    enabled: !!name,
    queryFn: async () => (await unwrap(api.GET('/api/v1/workflows/{name}', { params: { path: { name: name! } } }))) as unknown as Workflow,
  });
}

export interface VersionInfo {
  version: number;
  created_at: string;
  created_by: string;
}

export function useVersions(name: string | null) {
  return useQuery({
    queryKey: ['versions', name],
    enabled: !!name,
    queryFn: async () =>
      itemsOf<VersionInfo>(await unwrap(api.GET('/api/v1/workflows/{name}/versions', { params: { path: { name: name! } } })))
        .sort((a, b) => b.version - a.version),
  });
}

export async function fetchVersion(name: string, version: number): Promise<Workflow> {
  return (await unwrap(
    api.GET('/api/v1/workflows/{name}/versions/{version}', { params: { path: { name, version } } }),
  )) as unknown as Workflow;
}

export async function validateDefinition(definition: WorkflowDefinition): Promise<ValidationResult> {
  return unwrap(api.POST('/api/v1/workflows/validate', { body: asDocument(definition) })) as Promise<ValidationResult>;
}

export function useSaveWorkflow() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: async (arg: { definition: WorkflowDefinition; version: number | null }) => {
      const body = asDocument(arg.definition);
      const name = arg.definition.metadata.name;
      const saved = arg.version == null
        ? await unwrap(api.POST('/api/v1/workflows', { body }))
        : await unwrap(api.PUT('/api/v1/workflows/{name}', {
          params: { path: { name }, header: { 'if-match': String(arg.version) } },
          body,
        }));
      return saved as unknown as Workflow;
    },
    onSuccess: (wf) => {
      qc.setQueryData(['workflow', wf.name], wf);
      qc.invalidateQueries({ queryKey: ['workflows'] });
      qc.invalidateQueries({ queryKey: ['versions', wf.name] });
    },
  });
}

export function useStartRun() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: async (arg: { name: string; parameters: Json; dry_run: boolean; version?: number }) =>
      (await unwrap(api.POST('/api/v1/workflows/{name}/runs', {
        params: { path: { name: arg.name } },
        body: { parameters: arg.parameters, dry_run: arg.dry_run, ...(arg.version ? { version: arg.version } : {}) },
      }))) as unknown as Run,
    onSuccess: () => qc.invalidateQueries({ queryKey: ['runs'] }),
  });
}

export interface RunFilter {
  workflow?: string;
  state?: string;
  limit: number;
  offset: number;
}

export async function fetchRunPage(filter: RunFilter): Promise<Page<Run>> {
  const query = {
    limit: filter.limit,
    offset: filter.offset,
    ...(filter.workflow ? { workflow: filter.workflow } : {}),
    ...(filter.state ? { state: filter.state } : {}),
  };
  const body = await unwrap(api.GET('/api/v1/runs', { params: { query } }));
  const items = itemsOf<Run>(body);
  const total = (body as unknown as Page<Run>)?.total ?? items.length;
  return { items, total };
}

export function useRuns(filter: RunFilter, live = false) {
  return useQuery({
    queryKey: ['runs', filter],
    refetchInterval: live ? 10_000 : false,
    queryFn: () => fetchRunPage(filter),
  });
}

export async function fetchRun(id: string): Promise<Run> {
  return (await unwrap(api.GET('/api/v1/runs/{run_id}', { params: { path: { run_id: id } } }))) as unknown as Run;
}

export async function fetchEvents(id: string, after: number): Promise<RunEvent[]> {
  return itemsOf<RunEvent>(await unwrap(api.GET('/api/v1/runs/{run_id}/events', {
    params: { path: { run_id: id }, query: { after } },
  })));
}

export async function fetchLogs(runId: string, stepId: string): Promise<LogLine[]> {
  const body: unknown = await unwrap(api.GET('/api/v1/runs/{run_id}/steps/{step_id}/logs', {
    params: { path: { run_id: runId, step_id: stepId } },
  }));
  const raw = Array.isArray(body) ? body : itemsOf<unknown>(body).length ? itemsOf<unknown>(body)
    : ((body as { lines?: unknown[] })?.lines ?? (typeof body === 'string' ? body.split('\n') : []));
  return raw.map((l) => toLogLine(l));
}

export type RunAction = 'pause' | 'resume' | 'cancel' | 'retry';

export async function controlRun(id: string, action: RunAction): Promise<Run | null> {
  const opts = { params: { path: { run_id: id } } };
  const call = {
    pause: () => api.POST('/api/v1/runs/{run_id}/pause', opts),
    resume: () => api.POST('/api/v1/runs/{run_id}/resume', opts),
    cancel: () => api.POST('/api/v1/runs/{run_id}/cancel', opts),
    retry: () => api.POST('/api/v1/runs/{run_id}/retry', opts),
  }[action];
  const body = (await unwrap(call())) as unknown;
  return body && typeof body === 'object' && 'steps' in body ? (body as Run) : null;
}

export async function decide(runId: string, stepId: string, approve: boolean, comment: string): Promise<void> {
  const opts = { params: { path: { run_id: runId, step_id: stepId } }, body: { comment } };
  await unwrap(approve
    ? api.POST('/api/v1/runs/{run_id}/steps/{step_id}/approve', opts)
    : api.POST('/api/v1/runs/{run_id}/steps/{step_id}/reject', opts));
}
