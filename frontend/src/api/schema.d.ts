/**
 * Hand-written stand-in for the file `npm run gen:api` generates from the gateway's /openapi.json
 * (openapi-typescript format), transcribed from ARCHITECTURE.md §4. Replace it by the generated one;
 * the client code (client.ts, hooks.ts) only relies on `paths` and stays identical.
 */

type Json = { [key: string]: unknown };

export interface paths {
  "/api/v1/health": { get: operations["health"] };
  "/api/v1/step-types": { get: operations["step-types-list"] };
  "/api/v1/templates": { get: operations["templates-list"] };
  "/api/v1/schemas/workflow": { get: operations["schemas-workflow"] };
  "/api/v1/workflows/validate": { post: operations["workflows-validate"] };
  "/api/v1/workflows": { get: operations["workflows-list"]; post: operations["workflows-create"] };
  "/api/v1/workflows/{name}": {
    get: operations["workflows-get"];
    put: operations["workflows-update"];
    delete: operations["workflows-archive"];
  };
  "/api/v1/workflows/{name}/versions": { get: operations["workflows-versions"] };
  "/api/v1/workflows/{name}/versions/{version}": { get: operations["workflows-version"] };
  "/api/v1/workflows/{name}/runs": { post: operations["runs-start"] };
  "/api/v1/runs": { get: operations["runs-list"] };
  "/api/v1/runs/{run_id}": { get: operations["runs-get"] };
  "/api/v1/runs/{run_id}/events": { get: operations["runs-events"] };
  "/api/v1/runs/{run_id}/steps/{step_id}/logs": { get: operations["runs-step-logs"] };
  "/api/v1/runs/{run_id}/cancel": { post: operations["runs-cancel"] };
  "/api/v1/runs/{run_id}/pause": { post: operations["runs-pause"] };
  "/api/v1/runs/{run_id}/resume": { post: operations["runs-resume"] };
  "/api/v1/runs/{run_id}/retry": { post: operations["runs-retry"] };
  "/api/v1/runs/{run_id}/steps/{step_id}/approve": { post: operations["runs-approve"] };
  "/api/v1/runs/{run_id}/steps/{step_id}/reject": { post: operations["runs-reject"] };
}

export interface components {
  schemas: {
    Problem: { type?: string; title?: string; status?: number; detail?: string; errors?: components["schemas"]["ValidationIssue"][] };
    ValidationIssue: { pointer: string; message: string };
    ValidationResult: { valid: boolean; errors: components["schemas"]["ValidationIssue"][] };
    StepType: { type: string; plugin: string; title: string; description: string; config_schema: Json; outputs_schema: Json };
    Template: { name: string; plugin: string; workflow_type: string; title: string; description: string; definition: Json };
    Workflow: { name: string; version: number; definition: Json; created_at: string; created_by: string };
    WorkflowVersion: { name: string; version: number; created_at: string; created_by: string; definition?: Json };
    RunStart: { parameters?: Json; version?: number | null; dry_run?: boolean };
    StepRun: { id: string; uses: string; state: string; attempt: number; outputs: Json | null; error: string | null; started_at: string | null; finished_at: string | null };
    Run: { id: string; workflow: string; version: number; state: string; parameters: Json; dry_run?: boolean; created_at: string; started_at: string | null; finished_at: string | null; steps: components["schemas"]["StepRun"][] };
    RunPage: { items: components["schemas"]["Run"][]; total: number };
    Event: { seq: number; run_id: string; type: string; step_id: string | null; attempt: number | null; at: string; data: Json | null };
    LogLine: { at?: string; attempt?: number; level?: string; message: string };
    Decision: { comment?: string };
  };
}

type S = components["schemas"];
type JsonOk<T, Code extends number = 200> = { [C in Code]: { content: { "application/json": T } } };
type Problems = {
  default: { content: { "application/problem+json": S["Problem"] } };
};
type RunPath = { path: { run_id: string } };
type StepPath = { path: { run_id: string; step_id: string } };

export interface operations {
  "health": { parameters: Record<string, never>; responses: JsonOk<Json> };
  "step-types-list": { parameters: Record<string, never>; responses: JsonOk<S["StepType"][]> & Problems };
  "templates-list": { parameters: Record<string, never>; responses: JsonOk<S["Template"][]> & Problems };
  "schemas-workflow": { parameters: Record<string, never>; responses: JsonOk<Json> };
  "workflows-validate": {
    parameters: Record<string, never>;
    requestBody: { content: { "application/json": Json } };
    responses: JsonOk<S["ValidationResult"]> & Problems;
  };
  "workflows-list": { parameters: Record<string, never>; responses: JsonOk<S["Workflow"][]> & Problems };
  "workflows-create": {
    parameters: Record<string, never>;
    requestBody: { content: { "application/json": Json } };
    responses: JsonOk<S["Workflow"], 201> & Problems;
  };
  "workflows-get": { parameters: { path: { name: string } }; responses: JsonOk<S["Workflow"]> & Problems };
  "workflows-update": {
    parameters: { path: { name: string }; header?: { "If-Match"?: string } };
    requestBody: { content: { "application/json": Json } };
    responses: JsonOk<S["Workflow"]> & Problems;
  };
  "workflows-archive": { parameters: { path: { name: string } }; responses: { 204: { content: never } } & Problems };
  "workflows-versions": { parameters: { path: { name: string } }; responses: JsonOk<S["WorkflowVersion"][]> & Problems };
  "workflows-version": { parameters: { path: { name: string; version: number } }; responses: JsonOk<S["Workflow"]> & Problems };
  "runs-start": {
    parameters: { path: { name: string } };
    requestBody: { content: { "application/json": S["RunStart"] } };
    responses: JsonOk<S["Run"], 201> & Problems;
  };
  "runs-list": {
    parameters: { query?: { workflow?: string; state?: string; limit?: number; offset?: number } };
    responses: JsonOk<S["RunPage"]> & Problems;
  };
  "runs-get": { parameters: RunPath; responses: JsonOk<S["Run"]> & Problems };
  "runs-events": { parameters: RunPath & { query?: { after?: number } }; responses: JsonOk<S["Event"][]> & Problems };
  "runs-step-logs": { parameters: StepPath; responses: JsonOk<S["LogLine"][]> & Problems };
  "runs-cancel": { parameters: RunPath; responses: JsonOk<S["Run"]> & Problems };
  "runs-pause": { parameters: RunPath; responses: JsonOk<S["Run"]> & Problems };
  "runs-resume": { parameters: RunPath; responses: JsonOk<S["Run"]> & Problems };
  "runs-retry": { parameters: RunPath; responses: JsonOk<S["Run"]> & Problems };
  "runs-approve": {
    parameters: StepPath;
    requestBody: { content: { "application/json": S["Decision"] } };
    responses: JsonOk<S["Run"]> & Problems;
  };
  "runs-reject": {
    parameters: StepPath;
    requestBody: { content: { "application/json": S["Decision"] } };
    responses: JsonOk<S["Run"]> & Problems;
  };
}
