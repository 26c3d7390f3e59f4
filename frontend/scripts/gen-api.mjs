// Regenerates src/api/schema.d.ts from the gateway's OpenAPI document.
// Usage: npm run gen:api [-- url-or-file]
// Without an argument (or $VWMP_OPENAPI) the document comes straight from the gateway's code
// (`python -m vwmp_gateway.openapi` in the workspace's .venv), so no gateway has to be running and
// the result is what services/api-gateway/tests/test_openapi_types.py expects.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const out = process.env.VWMP_SCHEMA_OUT ?? path.join(root, 'src/api/schema.d.ts');
const bin = path.join(root, 'node_modules/.bin/openapi-typescript');

let source = process.argv[2] ?? process.env.VWMP_OPENAPI;
let scratch = null;
if (!source) {
  scratch = mkdtempSync(path.join(tmpdir(), 'vwmp-openapi-'));
  source = path.join(scratch, 'openapi.json');
  const python = process.env.VWMP_PYTHON ?? path.join(root, '..', '.venv', 'bin', 'python');
  const dumped = spawnSync(python, ['-m', 'vwmp_gateway.openapi', source], { stdio: 'inherit' });
  if (dumped.status !== 0) {
    rmSync(scratch, { recursive: true, force: true });
    console.error(`cannot dump the OpenAPI document with ${python} (run \`make deps\` first)`);
    process.exit(dumped.status ?? 1);
  }
}
const result = spawnSync(bin, [source, '-o', out], { stdio: 'inherit' });
if (scratch) rmSync(scratch, { recursive: true, force: true });
process.exit(result.status ?? 1);
