// Plugin schemas as the gateway serves them, for the form tests (imported by tests only).
import type { JSONSchema7 } from '../api/types';

/** `release/version-bump`'s config schema as pydantic writes it (the shipped python-release template uses it). */
export const VERSION_BUMP: JSONSchema7 = {
  type: 'object', title: 'VersionBumpConfig', additionalProperties: false, required: ['repo'],
  properties: {
    repo: { type: 'string', title: 'Repo', description: 'Repository path relative to the workspace root' },
    part: { anyOf: [{ type: 'string', enum: ['major', 'minor', 'patch', 'prerelease'] }, { type: 'null' }], default: null, title: 'Part', description: 'Which part' },
    version: { anyOf: [{ type: 'string' }, { type: 'null' }], default: null, title: 'Version' },
    files: { anyOf: [{ type: 'array', items: { type: 'string' } }, { type: 'null' }], default: null, title: 'Files' },
    prerelease_label: { type: 'string', default: 'rc', title: 'Prerelease Label' },
  },
};
