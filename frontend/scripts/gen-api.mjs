// Regenerates src/api/schema.d.ts from the gateway's OpenAPI document.
// Usage: npm run gen:api -- [url-or-file]   (default: $VWMP_OPENAPI or http://127.0.0.1:8080/openapi.json)
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const source = process.argv[2] ?? process.env.VWMP_OPENAPI ?? 'http://127.0.0.1:8080/openapi.json';
const out = path.join(root, 'src/api/schema.d.ts');
const bin = path.join(root, 'node_modules/.bin/openapi-typescript');
const result = spawnSync(bin, [source, '-o', out], { stdio: 'inherit' });
process.exit(result.status ?? 1);
