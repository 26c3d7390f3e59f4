// Server state through TanStack Query; every call goes through the typed client, so every answer
// already has its schema.d.ts type.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, unwrap } from './client';
import { rememberActor } from './auth';
import type { ApproveBody, LogLine, Run, RunEvent, RunPage, RunState, TriggerStatus, ValidationResult, Workflow, WorkflowDefinition } from './types';
import { asDefinitionBody, asSafeJson } from './types';
import { runSearchApiQuery, type RunSearch } from '../lib/runSearch';

type Json = Record<string, unknown>;

export function useStepTypes() {
  return useQuery({
    queryKey: ['step-types'],
    queryFn: async () => (await unwrap(api.GET('/api/v1/step-types'))).items,
    staleTime: 60_000,
  });
}

export function useTemplates() {
  return useQuery({
    queryKey: ['templates'],
    queryFn: async () => (await unwrap(api.GET('/api/v1/templates'))).items,
    staleTime: 60_000,
  });
}

export function useWorkflows() {
  return useQuery({
    queryKey: ['workflows'],
    queryFn: async () => (await unwrap(api.GET('/api/v1/workflows'))).items,
  });
}

export function useWorkflow(name: string | null) {
  return useQuery({
    queryKey: ['workflow', name],
    enabled: !!name,
    queryFn: () => unwrap(api.GET('/api/v1/workflows/{name}', { params: { path: { name: name! } } })),
  });
}

export function useVersions(name: string | null) {
  return useQuery({
    queryKey: ['versions', name],
    enabled: !!name,
    queryFn: async () =>
      (await unwrap(api.GET('/api/v1/workflows/{name}/versions', { params: { path: { name: name! } } }))).items
        .sort((a, b) => b.version - a.version),
  });
}

export function fetchVersion(name: string, version: number): Promise<Workflow> {
  return unwrap(api.GET('/api/v1/workflows/{name}/versions/{version}', { params: { path: { name, version } } }));
}

export function validateDefinition(definition: WorkflowDefinition): Promise<ValidationResult> {
  return unwrap(api.POST('/api/v1/workflows/validate', { body: definition }));
}

export function useSaveWorkflow() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (arg: { definition: WorkflowDefinition; version: number | null }): Promise<Workflow> => {
      const body = asDefinitionBody(arg.definition);
      const name = arg.definition.metadata.name;
      return arg.version == null
        ? unwrap(api.POST('/api/v1/workflows', { body }))
        : unwrap(api.PUT('/api/v1/workflows/{name}', {
          params: { path: { name }, header: { 'if-match': String(arg.version) } },
          body,
        }));
    },
    onSuccess: (wf) => {
      rememberActor(wf.created_by);
      qc.setQueryData(['workflow', wf.name], wf);
      qc.invalidateQueries({ queryKey: ['workflows'] });
      qc.invalidateQueries({ queryKey: ['versions', wf.name] });
      qc.invalidateQueries({ queryKey: ['triggers', wf.name] });
    },
  });
}

export function useStartRun() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (arg: { name: string; parameters: Json; dry_run: boolean; version?: number }): Promise<Run> =>
      unwrap(api.POST('/api/v1/workflows/{name}/runs', {
        params: { path: { name: arg.name } },
        body: { parameters: asSafeJson(arg.parameters), dry_run: arg.dry_run, ...(arg.version ? { version: arg.version } : {}) },
      })),
    onSuccess: (run) => {
      rememberActor(run.created_by);
      return qc.invalidateQueries({ queryKey: ['runs'] });
    },
  });
}

export interface RunFilter extends RunSearch {
  limit: number;
  offset: number;
}

export function fetchRunPage(filter: RunFilter): Promise<RunPage> {
  const { limit, offset, ...search } = filter;
  // `param.<name>` filters are open-ended, so the OpenAPI document cannot list them: the typed
  // query holds the declared ones and the rest ride along.
  const query = { limit, offset, ...runSearchApiQuery(search) } as { limit: number; offset: number; state?: RunState };
  return unwrap(api.GET('/api/v1/runs', { params: { query } }));
}

export function useRuns(filter: RunFilter, live = false) {
  return useQuery({
    queryKey: ['runs', filter],
    refetchInterval: live ? 10_000 : false,
    queryFn: () => fetchRunPage(filter),
  });
}

/** The child runs a run's sub-workflow steps started (each names its parent step in `parent.step_id`). */
export async function fetchChildRuns(runId: string): Promise<Run[]> {
  const page = await unwrap(api.GET('/api/v1/runs', { params: { query: { parent_run_id: runId, limit: 200 } } }));
  return page.items;
}

export function fetchRun(id: string): Promise<Run> {
  return unwrap(api.GET('/api/v1/runs/{run_id}', { params: { path: { run_id: id } } }));
}

export async function fetchEvents(id: string, after: number): Promise<RunEvent[]> {
  return (await unwrap(api.GET('/api/v1/runs/{run_id}/events', {
    params: { path: { run_id: id }, query: { after } },
  }))).items;
}

/** The gateway's largest page of events: a full page means there may be more. */
export const EVENT_PAGE = 1000;

/**
 * A run's whole history, page after page (a 10,000-item fan-out has over 20,000 events; applying
 * only the first page over the stored run would show it as it was then, catching up for seconds
 * through the stream). At most `maxPages` pages; the stream brings the rest.
 */
export async function fetchHistory(id: string, maxPages = 100): Promise<RunEvent[]> {
  const all: RunEvent[] = [];
  for (let page = 0; page < maxPages; page++) {
    const items = await fetchEvents(id, all.length ? all[all.length - 1].seq : 0);
    all.push(...items);
    if (items.length < EVENT_PAGE) break;
  }
  return all;
}

export async function fetchLogs(runId: string, stepId: string): Promise<LogLine[]> {
  return (await unwrap(api.GET('/api/v1/runs/{run_id}/steps/{step_id}/logs', {
    params: { path: { run_id: runId, step_id: stepId } },
  }))).items;
}

/** The run-wide controls of the run view (a subset of the API's control actions). */
export type RunAction = 'pause' | 'resume' | 'cancel' | 'retry';

export function controlRun(id: string, action: RunAction): Promise<Run> {
  const opts = { params: { path: { run_id: id } } };
  const call = {
    pause: () => api.POST('/api/v1/runs/{run_id}/pause', opts),
    resume: () => api.POST('/api/v1/runs/{run_id}/resume', opts),
    cancel: () => api.POST('/api/v1/runs/{run_id}/cancel', opts),
    retry: () => api.POST('/api/v1/runs/{run_id}/retry', opts),
  }[action];
  return unwrap(call());
}

/** Approves a gate with the plan digest the approver was shown and the gate's inputs. */
export async function approve(runId: string, stepId: string, body: ApproveBody): Promise<Run> {
  return unwrap(api.POST('/api/v1/runs/{run_id}/steps/{step_id}/approve', { params: { path: { run_id: runId, step_id: stepId } }, body }));
}

/** One reject rejects the gate; it sends the comment only. */
export async function reject(runId: string, stepId: string, comment: string): Promise<Run> {
  return unwrap(api.POST('/api/v1/runs/{run_id}/steps/{step_id}/reject', { params: { path: { run_id: runId, step_id: stepId } }, body: { comment } }));
}

/** The live state of a saved workflow's triggers (next fire, last fire and run, last error, paused). */
export function useTriggers(name: string | null) {
  return useQuery({
    queryKey: ['triggers', name],
    enabled: !!name,
    refetchInterval: 5_000,
    queryFn: async () => (await unwrap(api.GET('/api/v1/workflows/{name}/triggers', { params: { path: { name: name! } } }))).items,
  });
}

/** Pause or resume one trigger (operator); the answer is its new state. */
export function useTriggerControl(name: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (arg: { id: string; action: 'pause' | 'resume' }): Promise<TriggerStatus> => {
      const opts = { params: { path: { name, trigger_id: arg.id } } };
      return unwrap(arg.action === 'pause'
        ? api.POST('/api/v1/workflows/{name}/triggers/{trigger_id}/pause', opts)
        : api.POST('/api/v1/workflows/{name}/triggers/{trigger_id}/resume', opts));
    },
    onSuccess: () => qc.invalidateQueries({ queryKey: ['triggers', name] }),
  });
}
