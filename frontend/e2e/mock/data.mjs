// Step types and templates the mock offers: the built-ins of ARCHITECTURE.md §5 (a subset) and
// the example plugin's hello/greet.
const repo = { type: 'string', description: 'path inside the workspace' };
// core/approval with the policy of issue 11 (docs/contracts.md), as the engine declares it.
const approvalConfig = {
  type: 'object', additionalProperties: false,
  properties: {
    message: { type: 'string', maxLength: 4000, description: 'What the approver is asked' },
    approvers: {
      type: 'object', additionalProperties: false, description: 'Who may decide (default: role operator or higher)',
      properties: {
        roles: { type: 'array', uniqueItems: true, maxItems: 2, items: { enum: ['operator', 'admin'] }, description: 'Roles that may decide; a role admits the higher ones too' },
        names: { type: 'array', uniqueItems: true, maxItems: 100, items: { type: 'string', minLength: 1, maxLength: 100 }, description: 'Token or user names that may decide (they still need the operator role)' },
      },
    },
    required: { type: 'integer', minimum: 1, maximum: 100, default: 1, description: 'Distinct approvals needed; one rejection rejects' },
    allow_self_approval: { type: 'boolean', default: false, description: 'Whether whoever started the run may approve it' },
    pin_plan: { type: 'boolean', default: true, description: 'An approval must carry the digest of the plan it approves' },
    timeout: { type: 'string', pattern: '^\\d+(\\.\\d+)?(ms|s|m|h)$', description: 'How long the gate waits (30s, 90m, 24h); then on_timeout applies' },
    on_timeout: { enum: ['reject', 'approve'], default: 'reject', description: 'What a timeout decides' },
    inputs: { type: 'object', description: 'JSON Schema of what the approver fills in' },
  },
};

export const stepTypes = [
  { type: 'core/noop', plugin: 'core', title: 'No-op', description: 'Does nothing.', config_schema: { type: 'object', properties: {} }, outputs_schema: {} },
  { type: 'core/sleep', plugin: 'core', title: 'Sleep', description: 'Waits a number of seconds.', config_schema: { type: 'object', required: ['seconds'], properties: { seconds: { type: 'number', minimum: 0 } } }, outputs_schema: {} },
  { type: 'core/approval', plugin: 'core', title: 'Approval', description: 'Waits for a person to approve or reject.', config_schema: approvalConfig, outputs_schema: { type: 'object', properties: { approved_by: { type: 'string' }, comment: { type: 'string' } } } },
  { type: 'hello/greet', plugin: 'hello', title: 'Greet', description: 'Says hello (example plugin).', config_schema: { type: 'object', required: ['name'], properties: { name: { type: 'string', title: 'Name' } } }, outputs_schema: { type: 'object', properties: { greeting: { type: 'string' } } } },
  { type: 'git/tag', plugin: 'git', title: 'Tag', description: 'Creates an annotated tag.', config_schema: { type: 'object', required: ['repo', 'name'], properties: { repo, name: { type: 'string' }, message: { type: 'string' }, ref: { type: 'string' } } }, outputs_schema: {} },
  { type: 'git/push', plugin: 'git', title: 'Push', description: 'Pushes refs and tags.', config_schema: { type: 'object', required: ['repo'], properties: { repo, remote: { type: 'string', default: 'origin' }, refs: { type: 'array', items: { type: 'string' } }, tags: { type: 'boolean' } } }, outputs_schema: {} },
  { type: 'git/commit', plugin: 'git', title: 'Commit', description: 'Commits staged changes.', config_schema: { type: 'object', required: ['repo', 'message'], properties: { repo, message: { type: 'string' } } }, outputs_schema: {} },
  { type: 'release/version-bump', plugin: 'release', title: 'Bump version', description: 'Bumps the version in pyproject.toml, package.json, VERSION.', config_schema: { type: 'object', required: ['repo', 'part'], properties: { repo, part: { enum: ['major', 'minor', 'patch', 'prerelease'] }, prerelease_label: { type: 'string' } } }, outputs_schema: {} },
  { type: 'release/changelog', plugin: 'release', title: 'Update changelog', description: 'Keep a Changelog: Unreleased → version.', config_schema: { type: 'object', required: ['repo', 'version'], properties: { repo, version: { type: 'string' }, file: { type: 'string', default: 'CHANGELOG.md' } } }, outputs_schema: {} },
  { type: 'validators/branch-context', plugin: 'validators', title: 'Branch context', description: 'Checks the branch and a clean tree.', config_schema: { type: 'object', required: ['repo'], properties: { repo, allowed: { anyOf: [{ type: 'array', items: { type: 'string' } }, { type: 'null' }], default: null, description: 'branch globs (as the real plugin: list[str] | None)' }, require_clean: { type: 'boolean' } } }, outputs_schema: {} },
];

export const templates = [
  {
    name: 'release-basic', plugin: 'release', workflow_type: 'release', title: 'Release a Python package',
    description: 'Validate branch, bump, changelog, commit, approve, tag and push.',
    definition: {
      apiVersion: 'vwmp/v1', kind: 'Workflow',
      metadata: { name: 'release-basic', type: 'release', description: 'Cut a release' },
      spec: {
        parameters: { type: 'object', required: ['repo', 'part'], properties: { repo: { type: 'string', default: 'demo' }, part: { enum: ['major', 'minor', 'patch'], default: 'patch' } } },
        steps: [
          { id: 'check-branch', uses: 'validators/branch-context', with: { repo: '${{ params.repo }}', allowed: ['main'], require_clean: true } },
          { id: 'bump', uses: 'release/version-bump', needs: ['check-branch'], with: { repo: '${{ params.repo }}', part: '${{ params.part }}' } },
          { id: 'changelog', uses: 'release/changelog', needs: ['bump'], with: { repo: '${{ params.repo }}', version: '${{ steps.bump.outputs.version }}' } },
          { id: 'commit', uses: 'git/commit', needs: ['changelog'], with: { repo: '${{ params.repo }}', message: 'Release ${{ steps.bump.outputs.version }}' } },
          { id: 'approve', uses: 'core/approval', needs: ['commit'], with: { message: 'Push the release?' } },
          { id: 'tag', uses: 'git/tag', needs: ['approve'], with: { repo: '${{ params.repo }}', name: 'v${{ steps.bump.outputs.version }}' } },
          { id: 'push', uses: 'git/push', needs: ['tag'], with: { repo: '${{ params.repo }}', tags: true } },
        ],
      },
    },
  },
];
