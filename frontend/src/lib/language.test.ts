// Issue 12 in the definition: the finally lane, fan-out keys, workflow outputs, sub-workflows, and
// the YAML view's round trip of all of them.
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import type { WorkflowDefinition } from '../api/types';
import {
  addStep, allSteps, checkOutputName, connect, emptyDefinition, fanOutOf, finallyOf, formatOutputValue, laneOf, moveToLane,
  normalizeDefinition, parseOutputValue, removeSteps, renameStep, setOutputs, updateStep,
} from './definition';
import { designNodesOf, edgesOf, fanBadge, insideLane, laneBoxOf, NODE_HEIGHT, nodeKindOf } from './graph';
import { layoutDefinition } from './layout';
import { mapIssues } from './pointer';

const TEXT = `apiVersion: vwmp/v1
kind: Workflow
metadata:
  name: greet-all
spec:
  parameters:
    type: object
    properties:
      names:
        type: array
  steps:
    - id: greet
      uses: hello/greet
      for_each: \${{ params.names }}
      max_parallel: 4
      fail_fast: true
      with:
        name: \${{ item }}
    - id: fixed
      uses: hello/greet
      for_each: [a, b, 3, {k: v}]
      with:
        name: \${{ item_index }}
    - id: empty
      uses: core/noop
      for_each: []
    - id: publish
      uses: workflow/publish.package
      needs: [greet]
      with:
        version: 3
        parameters: {package: "\${{ item }}"}
  outputs:
    greetings: \${{ steps.greet.outputs }}
    count: 3
    flag: true
    quoted: "3"
  finally:
    - id: report
      uses: hello/greet
      if: \${{ failure() }}
      with: {name: "run \${{ run.id }} ended \${{ run.state }}"}
    - id: cleanup
      uses: core/noop
      needs: [report]
      timeout: 30s
`;

function parsed(): WorkflowDefinition {
  return normalizeDefinition(YAML.parse(TEXT));
}

describe('the YAML view round-trips the workflow language', () => {
  it('keeps for_each (expression, literal and empty list), max_parallel, fail_fast, finally and outputs', () => {
    const def = parsed();
    const again = normalizeDefinition(YAML.parse(YAML.stringify(def)));
    expect(again).toEqual(def);
    expect(again.spec.steps[0]).toMatchObject({ for_each: '${{ params.names }}', max_parallel: 4, fail_fast: true });
    expect(again.spec.steps[1].for_each).toEqual(['a', 'b', 3, { k: 'v' }]);
    expect(again.spec.steps[2].for_each).toEqual([]);
    expect(again.spec.steps[3].uses).toBe('workflow/publish.package');
    expect(again.spec.outputs).toEqual({ greetings: '${{ steps.greet.outputs }}', count: 3, flag: true, quoted: '3' });
    expect(finallyOf(again).map((s) => s.id)).toEqual(['report', 'cleanup']);
    expect(finallyOf(again)[1]).toMatchObject({ needs: ['report'], timeout: '30s' });
  });

  it('survives the canvas edits: layout, a moved finally step, an edited fan-out', () => {
    let def = parsed();
    def = { ...def, ui: { positions: layoutDefinition(def) } };
    def = updateStep(def, 'cleanup', { timeout: '1m' });
    def = updateStep(def, 'greet', { max_parallel: 8, fail_fast: undefined });
    const again = normalizeDefinition(YAML.parse(YAML.stringify(def)));
    expect(again).toEqual(def);
    expect(finallyOf(again)[1].timeout).toBe('1m');
    expect(again.spec.steps[0].max_parallel).toBe(8);
    expect('fail_fast' in again.spec.steps[0]).toBe(false);
    expect(Object.keys(again.ui?.positions ?? {}).sort()).toEqual(['cleanup', 'empty', 'fixed', 'greet', 'publish', 'report']);
  });

  it('an empty literal for_each is kept (it succeeds at once), an empty needs is dropped', () => {
    const def = updateStep(updateStep(parsed(), 'fixed', { for_each: [] }), 'publish', { needs: [] });
    expect(def.spec.steps[1].for_each).toEqual([]);
    expect('needs' in def.spec.steps[3]).toBe(false);
  });
});

describe('the finally lane', () => {
  it('adds, edits and removes finally steps in their own list; ids are unique across both lanes', () => {
    const d0 = emptyDefinition('w');
    const a = addStep(d0, 'hello/greet', { x: 0, y: 0 });
    const f = addStep(a.definition, 'hello/greet', { x: 0, y: 300 }, {}, 'finally');
    expect(f.id).toBe('greet-2');
    expect(finallyOf(f.definition).map((s) => s.id)).toEqual(['greet-2']);
    expect(laneOf(f.definition, 'greet-2')).toBe('finally');
    const edited = updateStep(f.definition, 'greet-2', { if: '${{ always() }}' });
    expect(finallyOf(edited)[0].if).toBe('${{ always() }}');
    expect(edited.spec.steps[0].if).toBeUndefined();
    const gone = removeSteps(edited, ['greet-2']);
    expect('finally' in gone.spec).toBe(false);
  });

  it('connects finally steps among themselves and refuses needs across the lanes', () => {
    const def = parsed();
    expect(connect(def, 'greet', 'report')).toMatchObject({ ok: false, reason: expect.stringMatching(/finally step needs only other finally steps/) });
    expect(connect(def, 'report', 'greet')).toMatchObject({ ok: false, reason: expect.stringMatching(/main step cannot need a finally step/) });
    const r = connect(removeSteps(def, []), 'cleanup', 'report');
    expect(r.ok).toBe(false); // report → cleanup exists: a cycle
    const fresh = addStep(def, 'core/noop', { x: 0, y: 0 }, {}, 'finally');
    const ok = connect(fresh.definition, 'cleanup', fresh.id);
    expect(ok.ok && finallyOf(ok.definition).find((s) => s.id === fresh.id)?.needs).toEqual(['cleanup']);
  });

  it('moving a step to the other lane drops the needs that would cross it', () => {
    const moved = moveToLane(parsed(), 'report', 'main');
    expect(laneOf(moved, 'report')).toBe('main');
    expect(finallyOf(moved).find((s) => s.id === 'cleanup')?.needs).toBeUndefined();
    const back = moveToLane(moveToLane(parsed(), 'greet', 'finally'), 'greet', 'finally');
    expect(laneOf(back, 'greet')).toBe('finally');
    expect(back.spec.steps.find((s) => s.id === 'publish')?.needs).toBeUndefined();
  });

  it('renaming a finally step rewrites needs and references, outputs included', () => {
    const def = renameStep(renameStep(parsed(), 'report', 'notify'), 'greet', 'hello');
    expect(finallyOf(def)[1].needs).toEqual(['notify']);
    expect(def.spec.outputs?.greetings).toBe('${{ steps.hello.outputs }}');
  });

  it('draws finally nodes in the finally lane and the edges between them', () => {
    const def = { ...parsed(), ui: { positions: layoutDefinition(parsed()) } };
    const nodes = designNodesOf(def, new Map(), new Map());
    expect(nodes.map((n) => [n.id, n.data.lane])).toContainEqual(['report', 'finally']);
    expect(nodes.find((n) => n.id === 'publish')?.type).toBe('workflow');
    expect(edgesOf(def).map((e) => e.id)).toContain('report->cleanup');
    // The lane is below every main step and holds every finally step.
    const pos = def.ui.positions;
    const box = laneBoxOf(def.spec.steps.map((s) => pos[s.id]), finallyOf(def).map((s) => pos[s.id]));
    const lowestMain = Math.max(...def.spec.steps.map((s) => pos[s.id].y + NODE_HEIGHT));
    expect(box.y).toBeGreaterThan(lowestMain);
    for (const s of finallyOf(def)) expect(insideLane(box, pos[s.id])).toBe(true);
  });

  it('a finally step without a position (typed into the YAML view) is drawn below the graph', () => {
    const def = parsed();
    def.ui = { positions: { greet: { x: 0, y: 0 }, fixed: { x: 0, y: 100 }, empty: { x: 0, y: 200 }, publish: { x: 300, y: 0 } } };
    const nodes = designNodesOf(def, new Map(), new Map());
    const report = nodes.find((n) => n.id === 'report')!;
    expect(report.position.y).toBeGreaterThan(200 + NODE_HEIGHT);
    expect(nodes.find((n) => n.id === 'cleanup')!.position.x).toBeGreaterThan(report.position.x);
  });

  it('an empty lane sits below the graph, ready for a drop', () => {
    const box = laneBoxOf([{ x: 0, y: 0 }, { x: 300, y: 100 }], []);
    expect(box.y).toBeGreaterThan(100 + NODE_HEIGHT);
    expect(box.width).toBeGreaterThanOrEqual(300);
  });

  it('validation pointers into /spec/finally land on the finally step', () => {
    const m = mapIssues(parsed(), [{ pointer: '/spec/finally/1/needs/0', message: 'x' }, { pointer: '/spec/steps/0/for_each', message: 'y' }]);
    expect(m.byStep.get('cleanup')?.[0]).toMatchObject({ section: 'needs' });
    expect(m.byStep.get('greet')?.[0]).toMatchObject({ section: 'for_each' });
  });
});

describe('fan-out, sub-workflow and outputs helpers', () => {
  it('badges a fan-out by its item count, or "for each" for an expression', () => {
    const [greet, fixed, empty, publish] = parsed().spec.steps;
    expect([fanOutOf(greet), fanOutOf(fixed), fanOutOf(empty), fanOutOf(publish)]).toEqual(['expression', 4, 0, null]);
    expect([fanBadge(greet), fanBadge(fixed), fanBadge(empty), fanBadge(publish)]).toEqual(['for each', '×4', '×0', null]);
    expect(nodeKindOf('workflow/publish.package')).toBe('workflow');
    expect(nodeKindOf('core/approval')).toBe('gate');
  });

  it('output names follow the schema; values read as JSON where they parse, else as text', () => {
    const outputs = parsed().spec.outputs ?? {};
    expect(checkOutputName(outputs, null, 'version')).toBeNull();
    expect(checkOutputName(outputs, null, 'count')).toMatch(/exists/);
    expect(checkOutputName(outputs, null, '9lives')).toMatch(/starting/);
    expect(checkOutputName(outputs, null, 'x'.repeat(65))).toMatch(/64/);
    expect(parseOutputValue('${{ steps.a.outputs.v }}')).toBe('${{ steps.a.outputs.v }}');
    expect([parseOutputValue('3'), parseOutputValue('true'), parseOutputValue('"3"'), parseOutputValue('v1')]).toEqual([3, true, '3', 'v1']);
    for (const v of ['${{ x }}', 3, true, '3', 'v1', ['a'], { a: 1 }]) expect(parseOutputValue(formatOutputValue(v))).toEqual(v);
  });

  it('setOutputs keeps the order it is given and drops an empty mapping', () => {
    const def = setOutputs(parsed(), { b: 1, a: 2 });
    expect(Object.keys(def.spec.outputs ?? {})).toEqual(['b', 'a']);
    expect('outputs' in setOutputs(def, {}).spec).toBe(false);
    expect(allSteps(def)).toHaveLength(6);
  });
});
