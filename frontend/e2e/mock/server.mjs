// In-memory stand-in for the VWMP gateway (ARCHITECTURE.md §4 shapes), used to develop and test
// the designer when the real platform is not running. It also serves frontend/dist like the gateway.
// Usage: node e2e/mock/server.mjs [port]   (MOCK_TOKEN, default dev-token; MOCK_STEP_MS, default 350)
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash, randomUUID } from 'node:crypto';
import { WebSocketServer } from 'ws';
import { stepTypes, templates } from './data.mjs';

const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist');
const TYPES = new Map(stepTypes.map((t) => [t.type, t]));
const jsonType = (v) => (Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v === 'object' ? 'object' : typeof v);

export function createMock({ token = 'dev-token', stepMs = 350 } = {}) {
  const workflows = new Map(); // name -> [versions]
  const triggerState = new Map(); // `${workflow}/${trigger id}` -> {paused, paused_by}
  const runs = new Map();
  const runSubs = new Map(); // runId -> Set(ws)
  const allSubs = new Set();
  // secret -> {name, role}: the bootstrap token is the admin; POST /tokens adds people.
  const tokens = new Map([[token, { name: 'admin', role: 'admin' }]]);
  const ROLE_RANK = { viewer: 0, editor: 1, operator: 2, admin: 3 };
  const TERMINAL = ['succeeded', 'succeeded_with_warnings', 'failed', 'cancelled'];

  const now = () => new Date().toISOString();
  const problem = (res, status, title, detail, errors) => send(res, status, { type: 'about:blank', title, status, detail, ...(errors ? { errors } : {}) }, 'application/problem+json');
  function send(res, status, body, type = 'application/json') {
    res.writeHead(status, { 'Content-Type': type });
    res.end(body === undefined ? '' : JSON.stringify(body));
  }

  function validate(def) {
    const errors = [];
    const err = (pointer, message) => errors.push({ pointer, message });
    if (!def || typeof def !== 'object') return [{ pointer: '', message: 'must be an object' }];
    if (def.apiVersion !== 'vwmp/v1') err('/apiVersion', "must be 'vwmp/v1'");
    if (def.kind !== 'Workflow') err('/kind', "must be 'Workflow'");
    const name = def.metadata?.name;
    if (!name || !/^[a-z0-9][a-z0-9-]{0,62}$/.test(name)) err('/metadata/name', 'must be lowercase letters, digits and -');
    const mainSteps = Array.isArray(def.spec?.steps) ? def.spec.steps : null;
    if (!mainSteps) { err('/spec/steps', 'must be a list'); return errors; }
    const finSteps = Array.isArray(def.spec?.finally) ? def.spec.finally : [];
    const steps = mainSteps;
    const ids = new Map();
    const checkStep = (s, i, lane, laneSteps) => {
      if (!s.id) err(`/spec/${lane}/${i}/id`, 'is required');
      else if (ids.has(s.id)) err(`/spec/${lane}/${i}/id`, `duplicate id '${s.id}'`);
      else ids.set(s.id, i);
      const sub = typeof s.uses === 'string' && s.uses.startsWith('workflow/');
      const type = TYPES.get(s.uses);
      if (!type && !sub) err(`/spec/${lane}/${i}/uses`, `unknown step type '${s.uses}'`);
      if (sub && !workflows.has(s.uses.slice(9))) err(`/spec/${lane}/${i}/uses`, `unknown workflow '${s.uses.slice(9)}'`);
      if (s.for_each !== undefined && !Array.isArray(s.for_each) && !(typeof s.for_each === 'string' && s.for_each.includes('${{'))) err(`/spec/${lane}/${i}/for_each`, 'must be a list or an expression');
      if (s.max_parallel !== undefined && !(Number.isInteger(s.max_parallel) && s.max_parallel >= 1 && s.max_parallel <= 10000)) err(`/spec/${lane}/${i}/max_parallel`, 'must be an integer from 1 to 10000');
      (s.needs ?? []).forEach((n, j) => { if (!laneSteps.some((x) => x.id === n)) err(`/spec/${lane}/${i}/needs/${j}`, `unknown step '${n}'`); });
      return type;
    };
    finSteps.forEach((s, i) => checkStep(s, i, 'finally', finSteps));
    for (const [k] of Object.entries(def.spec?.outputs ?? {})) if (!/^[A-Za-z_][A-Za-z0-9_-]{0,63}$/.test(k)) err(`/spec/outputs/${k}`, 'is not a valid output name');
    steps.forEach((s, i) => {
      const type = checkStep(s, i, 'steps', steps);
      if (type) {
        const w = s.with ?? {};
        for (const r of type.config_schema.required ?? []) if (w[r] === undefined || w[r] === '') err(`/spec/steps/${i}/with/${r}`, `'${r}' is required`);
        for (const [k, v] of Object.entries(w)) {
          const p = type.config_schema.properties?.[k];
          if (!p) { err(`/spec/steps/${i}/with/${k}`, `unknown field '${k}'`); continue; }
          if (typeof v === 'string' && v.includes('${{')) continue;
          if (p.enum && !p.enum.includes(v)) err(`/spec/steps/${i}/with/${k}`, `must be one of ${p.enum.join(', ')}`);
          else if (p.type && p.type !== jsonType(v) && !(p.type === 'integer' && Number.isInteger(v))) err(`/spec/steps/${i}/with/${k}`, `must be ${p.type}`);
        }
      }
    });
    // cycles
    const state = new Map();
    const byId = new Map(steps.map((s) => [s.id, s]));
    const visit = (id, trail) => {
      if (state.get(id) === 2) return;
      if (state.get(id) === 1) { err(`/spec/steps/${ids.get(id)}/needs`, `cycle: ${[...trail.slice(trail.indexOf(id)), id].join(' → ')}`); return; }
      state.set(id, 1);
      for (const n of byId.get(id)?.needs ?? []) if (byId.has(n)) visit(n, [...trail, id]);
      state.set(id, 2);
    };
    for (const s of steps) visit(s.id, []);
    return errors;
  }

  function publish(run, type, step_id = null, data = {}, attempt = 0) {
    const ev = { seq: run.events.length + 1, run_id: run.id, type, step_id, attempt, at: now(), data };
    run.events.push(ev);
    const frame = JSON.stringify(ev);
    for (const ws of runSubs.get(run.id) ?? []) ws.send(frame);
    for (const ws of allSubs) ws.send(frame);
  }

  const resolve = (v, run, s) => typeof v === 'string'
    ? v.replace(/\$\{\{\s*params\.(\w+)\s*\}\}/g, (_, k) => String(run.parameters[k] ?? ''))
      .replace(/\$\{\{\s*item\s*\}\}/g, () => String(s?.item ?? ''))
      .replace(/\$\{\{\s*item_index\s*\}\}/g, () => String(s?.item_index ?? ''))
      .replace(/\$\{\{\s*run\.id\s*\}\}/g, run.id)
      .replace(/\$\{\{\s*run\.state\s*\}\}/g, () => outcome(run))
    : v;
  // What the run would end as (finally steps read it as run.state).
  const outcome = (run) => (run.steps.some((x) => !x.parent && x.state === 'failed' && !finallyIds(run).has(x.id)) ? 'failed' : run.cancelRequested ? 'cancelled' : 'succeeded');
  const finallyIds = (run) => new Set((specOf(run).finally ?? []).map((d) => d.id));
  const specOf = (run) => workflows.get(run.workflow)[run.version - 1].definition.spec;

  /** spec.outputs at the run's end: `${{ steps.<id>.outputs[.key] }}` and `${{ params.x }}`, else the text. */
  function runOutputs(run) {
    const byId = new Map(run.steps.map((x) => [x.id, x]));
    const stepOutputs = (id) => {
      const s = byId.get(id);
      if (!s) return null;
      const items = run.steps.filter((x) => x.parent === id).sort((a, b) => a.item_index - b.item_index);
      return items.length || stepDefs(run).concat(specOf(run).finally ?? []).find((d) => d.id === id)?.for_each !== undefined ? items.map((x) => x.outputs) : s.outputs;
    };
    const value = (v) => {
      if (typeof v !== 'string') return v;
      const whole = /^\$\{\{\s*(?:(length)\()?\s*steps\.([\w-]+)\.outputs(?:\[(\d+)\])?(?:\.(\w+))?\s*\)?\s*\}\}$/.exec(v);
      if (whole) {
        let got = stepOutputs(whole[2]);
        if (whole[3] !== undefined) got = Array.isArray(got) ? got[Number(whole[3])] : undefined;
        if (whole[4]) got = got?.[whole[4]];
        return whole[1] ? (Array.isArray(got) ? got.length : 0) : got ?? null;
      }
      return resolve(v, run);
    };
    return Object.fromEntries(Object.entries(specOf(run).outputs ?? {}).map(([k, v]) => [k, value(v)]));
  }

  /** A finally step's `if:` with the status functions (the mock knows only these forms). */
  function conditionHolds(run, d) {
    if (!d.if) return true;
    const failed = outcome(run) === 'failed';
    if (/always\(\)/.test(d.if)) return true;
    if (/failure\(\)/.test(d.if)) return failed;
    if (/cancelled\(\)/.test(d.if)) return !!run.cancelRequested;
    if (/success\(\)/.test(d.if)) return !failed;
    return true;
  }

  function planFor(step, def, run) {
    const w = Object.fromEntries(Object.entries(def.with ?? {}).map(([k, v]) => [k, resolve(v, run)]));
    switch (def.uses) {
      case 'hello/greet': return [{ action: 'print', target: 'stdout', diff: `+Hello, ${w.name}!` }];
      case 'release/version-bump': return [{ action: 'write', target: `${w.repo}/pyproject.toml`, diff: '--- a/pyproject.toml\n+++ b/pyproject.toml\n@@ -1,3 +1,3 @@\n [project]\n name = "demo"\n-version = "1.2.3"\n+version = "1.2.4"' }];
      case 'git/tag': return [{ action: 'create tag', target: 'refs/tags/v1.2.4' }];
      case 'git/push': return [{ action: 'push', target: `origin refs/heads/main refs/tags/v1.2.4` }];
      case 'core/noop': case 'core/approval': return [];
      default: return [{ action: 'run', target: def.uses }];
    }
  }

  function stepDefs(run) {
    const wf = workflows.get(run.workflow)[run.version - 1];
    return wf.definition.spec.steps;
  }

  const STEP_DONE = ['succeeded', 'failed', 'skipped', 'cancelled'];

  // The main steps, then (once every one is terminal) the finally steps, then the run's end with its outputs.
  function tick(run) {
    if (['paused', 'succeeded', 'succeeded_with_warnings', 'failed', 'cancelled'].includes(run.state)) return;
    const spec = specOf(run);
    const byId = new Map(run.steps.map((s) => [s.id, s]));
    let active = advance(run, spec.steps, byId, false);
    const done = (defs) => defs.every((d) => STEP_DONE.includes(byId.get(d.id).state));
    if (!done(spec.steps)) return;
    if ((spec.finally ?? []).length) {
      active += advance(run, spec.finally, byId, true);
      if (!done(spec.finally)) return;
    }
    if (active) return;
    const failed = run.steps.some((s) => !s.parent && s.state === 'failed');
    const end = run.cancelRequested ? 'cancelled' : failed ? 'failed' : 'succeeded';
    run.state = end;
    run.finished_at = now();
    run.outputs = runOutputs(run);
    publish(run, `run.${end}`, null, Object.keys(spec.outputs ?? {}).length ? { outputs: run.outputs } : {});
    finished(run);
  }

  function advance(run, defs, byId, isFinally) {
    let active = 0;
    for (const d of defs) {
      const s = byId.get(d.id);
      if (s.state === 'running' && s.fan) { active++; advanceFan(run, s, d); continue; }
      if (['running', 'awaiting_approval', 'retrying'].includes(s.state)) { active++; continue; }
      if (s.state !== 'pending') continue;
      const deps = (d.needs ?? []).map((n) => byId.get(n));
      if (deps.some((x) => x.state === 'failed' || x.state === 'cancelled' || x.state === 'skipped') || (isFinally && !conditionHolds(run, d))) {
        s.state = 'skipped'; s.finished_at = now(); publish(run, 'step.skipped', s.id); continue;
      }
      if (!deps.every((x) => x.state === 'succeeded')) continue;
      active++;
      if (d.for_each !== undefined) startFan(run, s, d, byId);
      else startStep(run, s, d);
    }
    return active;
  }

  // for_each: the instances are inserted after the run's rows and announced with the aggregate's start.
  function startFan(run, s, d, byId) {
    const list = Array.isArray(d.for_each) ? d.for_each : (() => {
      const m = /params\.(\w+)/.exec(d.for_each);
      const v = m ? run.parameters[m[1]] : undefined;
      const sep = /split\([^,]+,\s*'([^']*)'\s*\)/.exec(d.for_each);
      if (sep && typeof v === 'string') return v.split(sep[1]);
      return Array.isArray(v) ? v : [];
    })();
    s.state = 'running'; s.attempt = 1; s.started_at = now(); s.fan = true;
    list.forEach((item, i) => {
      const inst = { id: `${d.id}[${i}]`, uses: d.uses, state: 'pending', attempt: 0, outputs: {}, error: null, started_at: null, finished_at: null, logs: [], parent: d.id, item_index: i, item };
      run.steps.push(inst);
      byId.set(inst.id, inst);
    });
    publish(run, 'step.started', s.id, { items: list.length }, 1);
    advanceFan(run, s, d);
  }

  function advanceFan(run, s, d) {
    const items = run.steps.filter((x) => x.parent === s.id);
    const limit = d.max_parallel ?? 8;
    let running = items.filter((x) => x.state === 'running').length;
    for (const inst of items) {
      if (running >= limit) break;
      if (inst.state !== 'pending') continue;
      running++;
      startStep(run, inst, d);
    }
    if (items.every((x) => STEP_DONE.includes(x.state)) && s.state === 'running') {
      const count = (st) => items.filter((x) => x.state === st).length;
      const failed = count('failed');
      s.state = failed ? 'failed' : 'succeeded'; s.finished_at = now();
      s.outputs = {};
      publish(run, `step.${s.state}`, s.id, { items: items.length, succeeded: count('succeeded'), failed, cancelled: count('cancelled') }, 1);
      setTimeout(() => tick(run), 0);
    }
  }

  function startStep(run, s, d) {
    s.state = 'running'; s.attempt += 1; s.started_at = now(); s.finished_at = null;
    publish(run, 'step.started', s.id, {}, s.attempt);
    log(run, s, `${run.dry_run ? '[dry run] ' : ''}starting ${d.uses}${s.parent ? ` for item ${s.item_index}` : ''}`);
    if (d.uses.startsWith('workflow/')) { startChild(run, s, d); return; }
    s.timer = setTimeout(() => finishStep(run, s, d), stepMs);
  }

  // A sub-workflow step: a child run with parent {run_id, step_id}; its end ends the step.
  function startChild(run, s, d) {
    const list = workflows.get(d.uses.slice('workflow/'.length));
    const wf = d.with?.version ? list[d.with.version - 1] : list.at(-1);
    const parameters = Object.fromEntries(Object.entries(d.with?.parameters ?? {}).map(([k, v]) => [k, resolve(v, run, s)]));
    const child = createRun(wf, parameters, run.dry_run, run.created_by, { run_id: run.id, step_id: s.id });
    child.onEnd = () => {
      s.state = child.state === 'succeeded' ? 'succeeded' : 'failed'; s.finished_at = now();
      s.outputs = { ...(child.outputs ?? {}), child_run_id: child.id };
      if (s.state === 'failed') s.error = `child run ${child.id} ${child.state}`;
      publish(run, `step.${s.state}`, s.id, s.state === 'failed' ? { error: s.error } : { outputs: s.outputs }, s.attempt);
      tick(run);
    };
  }

  function log(run, s, line) {
    s.logs.push({ step_id: s.id, attempt: s.attempt, at: now(), stream: 'info', line });
    publish(run, 'step.log', s.id, { lines: [{ stream: 'info', line }] }, s.attempt);
  }

  function finishStep(run, s, d) {
    if (s.state !== 'running') return;
    if (run.state === 'cancelled') return;
    if (d.uses === 'core/approval' && !run.dry_run) {
      s.state = 'awaiting_approval';
      const downstream = stepDefs(run).filter((x) => (x.needs ?? []).includes(s.id) || (x.needs ?? []).some((n) => downstreamIds(run, s.id).includes(n)));
      // As the engine sends it: one flat list, each item naming its step.
      const plan = downstream.flatMap((x) => planFor(null, x, run).map((item) => ({ ...item, step: x.id })));
      const policy = policyOf(d.with ?? {});
      s.outputs = { plan, plan_digest: digestOf(plan), approvals: [], policy, started_by: run.created_by, deadline: deadlineOf(policy.timeout) };
      publish(run, 'step.awaiting_approval', s.id, { message: resolve(d.with?.message, run) ?? 'Approve?', plan, plan_digest: s.outputs.plan_digest }, s.attempt);
      return;
    }
    const outputs = {};
    if (run.dry_run) outputs.plan = planFor(s, d, run);
    if (d.uses === 'hello/greet') {
      const g = `Hello, ${resolve(d.with?.name, run, s)}!`;
      log(run, s, run.dry_run ? `would print: ${g}` : g);
      if (!run.dry_run) outputs.greeting = g;
    }
    if (d.uses === 'core/approval') Object.assign(outputs, { approved_by: 'dry-run', comment: 'auto-approved in a dry run' });
    s.outputs = outputs; s.state = 'succeeded'; s.finished_at = now();
    publish(run, 'step.succeeded', s.id, { outputs }, s.attempt);
    tick(run);
  }

  function createRun(wf, parameters, dryRun, createdBy, parent = null, concurrency = null) {
    const spec = wf.definition.spec;
    const row = (s) => ({ id: s.id, uses: s.uses, state: 'pending', attempt: 0, outputs: {}, error: null, started_at: null, finished_at: null, logs: [], parent: null, item_index: null });
    const run = {
      id: randomUUID(), workflow: wf.name, version: wf.version, state: 'queued', parameters, dry_run: !!dryRun,
      created_at: now(), created_by: createdBy, started_at: null, finished_at: null, events: [], concurrency,
      outputs: {}, parent, finalizing: null, trigger: { id: null, kind: 'manual', at: null },
      steps: [...spec.steps, ...(spec.finally ?? [])].map(row),
    };
    runs.set(run.id, run);
    publish(run, 'run.queued', null, concurrency ? { concurrency } : {});
    if (!concurrency || concurrency.position === 0) begin(run);
    return run;
  }

  function downstreamIds(run, id) {
    const defs = stepDefs(run);
    const out = [];
    const q = [id];
    while (q.length) {
      const c = q.shift();
      for (const d of defs) if ((d.needs ?? []).includes(c) && !out.includes(d.id)) { out.push(d.id); q.push(d.id); }
    }
    return out;
  }

  // --- spec.concurrency: runs with one rendered key share `limit` slots ------------------------
  const keyed = (key) => [...runs.values()].filter((r) => r.concurrency?.key === key && !TERMINAL.includes(r.state));
  const holders = (key) => keyed(key).filter((r) => r.concurrency.position === 0);
  const waiters = (key) => keyed(key).filter((r) => r.concurrency.position > 0).sort((a, b) => a.concurrency.position - b.concurrency.position);

  function begin(run) {
    setTimeout(() => { if (run.state !== 'queued') return; run.state = 'running'; run.started_at = now(); publish(run, 'run.started'); tick(run); }, 150);
  }

  /** After a holder finished: the first waiters take the free slots, the rest move up. */
  function promote(key) {
    const limit = holders(key)[0]?.concurrency.limit ?? waiters(key)[0]?.concurrency.limit ?? 1;
    let free = limit - holders(key).length;
    for (const w of waiters(key)) {
      if (free > 0) { w.concurrency = { ...w.concurrency, position: 0, blocked_by: [] }; free--; begin(w); }
    }
    const held = holders(key).map((r) => r.id);
    waiters(key).forEach((w, i) => { w.concurrency = { ...w.concurrency, position: i + 1, blocked_by: held }; });
  }

  function finished(run) {
    if (run.concurrency) setTimeout(() => promote(run.concurrency.key), 0);
    if (run.onEnd) setTimeout(run.onEnd, 0);
  }

  // --- core/approval with a policy -------------------------------------------------------------
  const digestOf = (plan) => createHash('sha256').update(JSON.stringify(plan)).digest('hex');
  const DURATION = /^(\d+)(s|m|h|d)$/;
  function policyOf(w) {
    return {
      approvers: { roles: w.approvers?.roles ?? [], names: w.approvers?.names ?? [] },
      required: w.required ?? 1, allow_self_approval: !!w.allow_self_approval, pin_plan: w.pin_plan !== false,
      timeout: w.timeout ?? null, on_timeout: w.on_timeout ?? 'reject', inputs: w.inputs ?? null,
    };
  }
  function deadlineOf(timeout) {
    const m = timeout && DURATION.exec(timeout);
    if (!m) return null;
    return new Date(Date.now() + Number(m[1]) * { s: 1e3, m: 6e4, h: 36e5, d: 864e5 }[m[2]]).toISOString();
  }

  function approve(res, run, s, b, who) {
    const gate = s.outputs;
    const policy = gate.policy;
    const refuse = (status, title, detail, extra = {}) => send(res, status, { type: `https://vwmp.dev/problems/${extra.kind ?? 'approval-refused'}`, title, status, detail, ...extra.body }, 'application/problem+json');
    if (!policy.allow_self_approval && who.name === run.created_by) return refuse(403, 'Forbidden', `${who.name} started run ${run.id} and may not approve it`);
    const { roles, names } = policy.approvers;
    const mayDecide = (!roles.length && !names.length) ? ROLE_RANK[who.role] >= ROLE_RANK.operator
      : names.includes(who.name) || roles.some((r) => ROLE_RANK[who.role] >= (ROLE_RANK[r] ?? 99));
    if (!mayDecide) return refuse(403, 'Forbidden', `${who.name} is not an approver of ${s.id}`);
    if (gate.approvals.some((a) => a.by === who.name)) return refuse(409, 'Conflict', `${who.name} approved already`);
    // The plan is computed again at approval time (the mock's plan never changes by itself).
    const plan = gate.plan;
    if (policy.pin_plan && b.plan_digest !== digestOf(plan)) {
      return refuse(409, 'Conflict', 'The plan changed since it was shown', { kind: 'plan-changed', body: { plan_digest: digestOf(plan), plan } });
    }
    const errors = [];
    const schema = policy.inputs;
    if (schema) {
      const given = b.inputs ?? {};
      for (const r of schema.required ?? []) if (given[r] === undefined || given[r] === '') errors.push({ pointer: `/inputs/${r}`, message: `${r} is required` });
      for (const [k, v] of Object.entries(given)) {
        const t = schema.properties?.[k]?.type;
        if (t && t !== jsonType(v) && !(t === 'integer' && Number.isInteger(v))) errors.push({ pointer: `/inputs/${k}`, message: `must be ${t}` });
      }
    }
    if (errors.length) return send(res, 422, { type: 'about:blank', title: 'Invalid inputs', status: 422, detail: `${errors.length} problem(s)`, errors }, 'application/problem+json');
    const at = now();
    gate.approvals = [...gate.approvals, { by: who.name, at, comment: b.comment ?? '' }];
    if (gate.approvals.length < policy.required) {
      publish(run, 'step.approved', s.id, { by: who.name, at, comment: b.comment ?? '', approvals: gate.approvals.length, required: policy.required }, s.attempt);
      return send(res, 200, publicRun(run));
    }
    s.state = 'succeeded'; s.finished_at = at;
    s.outputs = { approved_by: who.name, comment: b.comment ?? '', plan, plan_digest: gate.plan_digest, approvals: gate.approvals, inputs: b.inputs ?? {} };
    publish(run, 'step.succeeded', s.id, { outputs: s.outputs }, s.attempt);
    tick(run);
    return send(res, 200, publicRun(run));
  }

  const stepCounts = (steps) => steps.reduce((counts, s) => ({ ...counts, [s.state]: (counts[s.state] ?? 0) + 1 }), {});
  const publicRun = ({ onEnd, cancelRequested, ...r }) => ({ ...r, steps: r.steps.map(({ timer, logs, item, fan, ...s }) => s), step_counts: stepCounts(r.steps), events: undefined });

  async function body(req) {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const text = Buffer.concat(chunks).toString();
    return text ? JSON.parse(text) : {};
  }

  async function api(req, res, url) {
    const p = url.pathname.replace(/^\/api\/v1/, '');
    const m = req.method;
    if (p === '/health') return send(res, 200, { status: 'ok' });
    const who = tokens.get((req.headers.authorization ?? '').replace(/^Bearer /, ''));
    if (!who) return problem(res, 401, 'Unauthorized', 'Missing or invalid bearer token');
    let b = {};
    if (m === 'POST' || m === 'PUT') {
      try { b = await body(req); } catch { return problem(res, 400, 'Bad request', 'Body is not JSON'); }
    }
    let g;
    if (p === '/tokens' && m === 'POST') {
      if (who.role !== 'admin') return problem(res, 403, 'Forbidden', 'admin only');
      const secret = `mock-${randomUUID()}`;
      const id = randomUUID();
      tokens.set(secret, { name: b.name, role: b.role ?? 'viewer' });
      return send(res, 201, { id, token: secret, name: b.name, role: b.role ?? 'viewer' });
    }
    if (p === '/me' && m === 'GET') return send(res, 200, { name: who.name, role: who.role });
    if (p === '/step-types' && m === 'GET') return send(res, 200, { items: stepTypes, total: stepTypes.length });
    if (p === '/templates' && m === 'GET') return send(res, 200, { items: templates, total: templates.length });
    if (p === '/workflows/validate' && m === 'POST') { const errors = validate(b); return send(res, 200, { valid: errors.length === 0, errors }); }
    if (p === '/workflows' && m === 'GET') { const items = [...workflows.values()].map((v) => v.at(-1)); return send(res, 200, { items, total: items.length }); }
    if (p === '/workflows' && m === 'POST') {
      const errors = validate(b);
      if (errors.length) return problem(res, 422, 'Invalid workflow', `${errors.length} problem(s)`, errors);
      if (workflows.has(b.metadata.name)) return problem(res, 409, 'Conflict', `workflow ${b.metadata.name} exists`);
      const wf = { name: b.metadata.name, version: 1, definition: b, created_at: now(), created_by: who.name };
      workflows.set(wf.name, [wf]);
      return send(res, 201, wf);
    }
    if ((g = p.match(/^\/workflows\/([^/]+)$/))) {
      const name = decodeURIComponent(g[1]);
      const list = workflows.get(name);
      if (!list) return problem(res, 404, 'Not found', `no workflow ${name}`);
      if (m === 'GET') return send(res, 200, list.at(-1));
      if (m === 'PUT') {
        if (req.headers['if-match'] && Number(req.headers['if-match']) !== list.at(-1).version) return problem(res, 412, 'Precondition failed', `latest version is ${list.at(-1).version}`);
        const errors = validate(b);
        if (errors.length) return problem(res, 422, 'Invalid workflow', `${errors.length} problem(s)`, errors);
        const wf = { name, version: list.length + 1, definition: b, created_at: now(), created_by: who.name };
        list.push(wf);
        return send(res, 200, wf);
      }
    }
    // Triggers: the latest version's spec.triggers with a paused flag; the mock fires none of them.
    if ((g = p.match(/^\/workflows\/([^/]+)\/triggers(?:\/([^/]+)\/(pause|resume))?$/))) {
      const name = decodeURIComponent(g[1]);
      const list = workflows.get(name);
      if (!list) return problem(res, 404, 'Not found', `no workflow ${name}`);
      const kindOf = (t) => (t.schedule ? 'schedule' : t.webhook ? 'webhook' : 'on_run');
      const view = (t) => {
        const st = triggerState.get(`${name}/${t.id}`) ?? { paused: false, paused_by: null };
        return {
          id: t.id, kind: kindOf(t), definition: t, next_fire_at: null, last_fire_at: null, last_run_id: null, last_error: null, ...st,
          webhook_url: t.webhook ? `/api/v1/hooks/${name}/${t.id}` : null,
        };
      };
      const defined = list.at(-1).definition.spec.triggers ?? [];
      if (!g[2] && m === 'GET') return send(res, 200, { items: defined.map(view), total: defined.length });
      const t = defined.find((x) => x.id === decodeURIComponent(g[2] ?? ''));
      if (!t) return problem(res, 404, 'Not found', 'no such trigger');
      if (m !== 'POST') return problem(res, 405, 'Method not allowed', m);
      if (ROLE_RANK[who.role] < ROLE_RANK.operator) return problem(res, 403, 'Forbidden', `${g[3]} needs the operator role; ${who.name} is a ${who.role}`);
      triggerState.set(`${name}/${t.id}`, g[3] === 'pause' ? { paused: true, paused_by: who.name } : { paused: false, paused_by: null });
      return send(res, 200, view(t));
    }
    if ((g = p.match(/^\/workflows\/([^/]+)\/versions(?:\/(\d+))?$/))) {
      const list = workflows.get(decodeURIComponent(g[1]));
      if (!list) return problem(res, 404, 'Not found', 'no such workflow');
      if (!g[2]) return send(res, 200, { items: list.map(({ definition, ...v }) => v), total: list.length });
      const wf = list[Number(g[2]) - 1];
      return wf ? send(res, 200, wf) : problem(res, 404, 'Not found', 'no such version');
    }
    if ((g = p.match(/^\/workflows\/([^/]+)\/runs$/)) && m === 'POST') {
      const list = workflows.get(decodeURIComponent(g[1]));
      if (!list) return problem(res, 404, 'Not found', 'no such workflow');
      const wf = b.version ? list[b.version - 1] : list.at(-1);
      const parameters = b.parameters ?? {};
      const cc = wf.definition.spec.concurrency;
      let concurrency = null;
      if (cc?.key) { // dry runs take the key too (run.dry_run may be part of it)
        const key = resolve(cc.key, { parameters }).replace(/\$\{\{\s*run\.dry_run\s*\}\}/g, String(!!b.dry_run));
        const limit = cc.limit ?? 1, on_conflict = cc.on_conflict ?? 'queue';
        const held = holders(key);
        if (held.length >= limit && on_conflict === 'fail') {
          return send(res, 409, { type: 'https://vwmp.dev/problems/concurrency-conflict', title: 'Conflict', status: 409, detail: `key ${key} is held by run ${held[0].id}`, concurrency: { key, blocked_by: held.map((r) => r.id) } }, 'application/problem+json');
        }
        if (held.length >= limit && on_conflict === 'cancel_pending') {
          for (const w of waiters(key)) { w.state = 'cancelled'; w.finished_at = now(); publish(w, 'run.cancelled', null, { by: who.name, reason: 'superseded by a newer run' }); }
        }
        concurrency = held.length >= limit
          ? { key, limit, on_conflict, position: waiters(key).length + 1, blocked_by: held.map((r) => r.id) }
          : { key, limit, on_conflict, position: 0, blocked_by: [] };
      }
      const run = createRun(wf, parameters, b.dry_run, who.name, null, concurrency);
      return send(res, 201, publicRun(run));
    }
    if (p === '/runs' && m === 'GET') {
      let items = [...runs.values()].reverse();
      if (url.searchParams.get('workflow')) items = items.filter((r) => r.workflow === url.searchParams.get('workflow'));
      if (url.searchParams.get('state')) items = items.filter((r) => r.state === url.searchParams.get('state'));
      if (url.searchParams.get('parent_run_id')) items = items.filter((r) => r.parent?.run_id === url.searchParams.get('parent_run_id'));
      const trig = url.searchParams.get('trigger');
      if (trig) items = items.filter((r) => r.trigger?.kind === trig || r.trigger?.id === trig);
      const limit = Number(url.searchParams.get('limit') ?? 50), offset = Number(url.searchParams.get('offset') ?? 0);
      return send(res, 200, { items: items.slice(offset, offset + limit).map(publicRun), total: items.length });
    }
    if ((g = p.match(/^\/runs\/([^/]+)(\/.*)?$/))) {
      const run = runs.get(g[1]);
      if (!run) return problem(res, 404, 'Not found', 'no such run');
      const rest = g[2] ?? '';
      if (rest === '' && m === 'GET') return send(res, 200, publicRun(run));
      if (rest === '/events') { const items = run.events.filter((e) => e.seq > Number(url.searchParams.get('after') ?? 0)); return send(res, 200, { items, total: items.length }); }
      let sm;
      if ((sm = rest.match(/^\/steps\/([^/]+)\/(logs|approve|reject)$/))) {
        const s = run.steps.find((x) => x.id === decodeURIComponent(sm[1]));
        if (!s) return problem(res, 404, 'Not found', 'no such step');
        if (sm[2] === 'logs') return send(res, 200, { items: s.logs, total: s.logs.length });
        if (s.state !== 'awaiting_approval') return problem(res, 409, 'Conflict', `step ${s.id} is ${s.state}, not awaiting approval`);
        if (sm[2] === 'approve') return approve(res, run, s, b, who);
        s.state = 'failed'; s.finished_at = now(); s.error = `rejected: ${b.comment ?? ''}`;
        publish(run, 'step.failed', s.id, { error: s.error }, s.attempt);
        tick(run);
        return send(res, 200, publicRun(run));
      }
      if (m === 'POST' && rest === '/pause') { if (run.state !== 'running') return problem(res, 409, 'Conflict', `run is ${run.state}`); run.state = 'paused'; publish(run, 'run.paused'); return send(res, 200, publicRun(run)); }
      if (m === 'POST' && rest === '/resume') { if (run.state !== 'paused') return problem(res, 409, 'Conflict', `run is ${run.state}`); run.state = 'running'; publish(run, 'run.resumed'); tick(run); return send(res, 200, publicRun(run)); }
      if (m === 'POST' && rest === '/cancel') {
        if (TERMINAL.includes(run.state)) return problem(res, 409, 'Conflict', `run is ${run.state}`);
        // The first cancel of a run with finally steps hands it over to them; a second one stops them.
        const fin = finallyIds(run);
        if (fin.size && !run.cancelRequested) {
          run.cancelRequested = true;
          for (const s of run.steps) if (!fin.has(s.id) && ['pending', 'running', 'awaiting_approval', 'retrying'].includes(s.state)) { clearTimeout(s.timer); s.state = 'cancelled'; s.finished_at = now(); publish(run, 'step.cancelled', s.id); }
          run.finalizing = 'cancelled';
          publish(run, 'run.finalizing', null, { state: 'cancelled', reason: 'cancel', by: who.name });
          tick(run);
          return send(res, 200, publicRun(run));
        }
        for (const s of run.steps) if (['pending', 'running', 'awaiting_approval', 'retrying'].includes(s.state)) { clearTimeout(s.timer); s.state = 'cancelled'; s.finished_at = now(); publish(run, 'step.cancelled', s.id); }
        run.state = 'cancelled'; run.finished_at = now(); publish(run, 'run.cancelled');
        finished(run);
        return send(res, 200, publicRun(run));
      }
      if (m === 'POST' && rest === '/retry') {
        for (const s of run.steps) if (['failed', 'cancelled', 'skipped'].includes(s.state)) { s.state = 'pending'; s.error = null; }
        run.state = 'running'; run.finished_at = null; publish(run, 'run.resumed'); tick(run);
        return send(res, 200, publicRun(run));
      }
    }
    return problem(res, 404, 'Not found', `${m} ${url.pathname}`);
  }

  function serveStatic(req, res, url) {
    let file = path.join(DIST, path.normalize(decodeURIComponent(url.pathname)).replace(/^(\.\.[/\\])+/, ''));
    if (!file.startsWith(DIST) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) file = path.join(DIST, 'index.html');
    if (!fs.existsSync(file)) return send(res, 404, { title: 'dist/ not built' });
    const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml' };
    res.writeHead(200, { 'Content-Type': types[path.extname(file)] ?? 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname.startsWith('/api/')) api(req, res, url).catch((e) => problem(res, 500, 'Internal error', String(e)));
    else serveStatic(req, res, url);
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url, 'http://x');
    if (!tokens.has(url.searchParams.get('token'))) { socket.write('HTTP/1.1 401 Unauthorized\r\n\r\n'); socket.destroy(); return; }
    const m = url.pathname.match(/^\/api\/v1\/runs\/([^/]+)\/stream$/);
    const all = url.pathname === '/api/v1/stream';
    if (!m && !all) { socket.destroy(); return; }
    wss.handleUpgrade(req, socket, head, (ws) => {
      if (all) { allSubs.add(ws); ws.on('close', () => allSubs.delete(ws)); return; }
      const run = runs.get(m[1]);
      if (!run) { ws.close(4404, 'no such run'); return; }
      const after = Number(url.searchParams.get('after') ?? 0);
      for (const e of run.events) if (e.seq > after) ws.send(JSON.stringify(e));
      const set = runSubs.get(run.id) ?? new Set();
      set.add(ws);
      runSubs.set(run.id, set);
      ws.on('close', () => set.delete(ws));
    });
  });
  return server;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const port = Number(process.argv[2] ?? process.env.MOCK_PORT ?? 8080);
  const server = createMock({ token: process.env.MOCK_TOKEN ?? 'dev-token', stepMs: Number(process.env.MOCK_STEP_MS ?? 350) });
  server.listen(port, '127.0.0.1', () => process.stdout.write(`mock gateway on http://127.0.0.1:${port} (token ${process.env.MOCK_TOKEN ?? 'dev-token'})\n`));
}
