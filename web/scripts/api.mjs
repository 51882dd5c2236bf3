// Generates (gen:api) or checks (check:api) web/openapi.json and web/src/api/schema.d.ts.
// openapi.json comes from the Python app without a server (whatsapp_builder.openapi_export);
// schema.d.ts is generated from openapi.json by openapi-typescript.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const python = process.env.WAB_PYTHON ?? resolve(web, '../.venv/bin/python');
const check = process.argv.includes('--check');
const openapiPath = join(web, 'openapi.json');
const schemaPath = join(web, 'src/api/schema.d.ts');

function exportOpenApi() {
  if (!existsSync(python)) {
    console.warn(`note: ${python} not found; using the checked-in openapi.json`);
    return readFileSync(openapiPath, 'utf8');
  }
  const code =
    'import json, sys; from whatsapp_builder.openapi_export import export; ' +
    'json.dump(export(), sys.stdout, indent=2, sort_keys=True); sys.stdout.write("\\n")';
  return execFileSync(python, ['-c', code], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
}

function generateTypes(openapiFile, outFile) {
  execFileSync(join(web, 'node_modules/.bin/openapi-typescript'), [openapiFile, '-o', outFile], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return readFileSync(outFile, 'utf8');
}

const tmp = mkdtempSync(join(tmpdir(), 'wab-api-'));
const openapi = exportOpenApi();
if (!check) {
  writeFileSync(openapiPath, openapi);
  generateTypes(openapiPath, schemaPath);
  console.log('wrote openapi.json and src/api/schema.d.ts');
} else {
  let failed = false;
  if (openapi !== readFileSync(openapiPath, 'utf8')) {
    console.error('web/openapi.json is out of date with the Python app: run `npm run gen:api` in web/.');
    failed = true;
  }
  const tmpOpenapi = join(tmp, 'openapi.json');
  writeFileSync(tmpOpenapi, openapi);
  const types = generateTypes(tmpOpenapi, join(tmp, 'schema.d.ts'));
  if (!existsSync(schemaPath) || types !== readFileSync(schemaPath, 'utf8')) {
    console.error('web/src/api/schema.d.ts is out of date: run `npm run gen:api` in web/.');
    failed = true;
  }
  if (failed) process.exit(1);
  console.log('openapi.json and schema.d.ts are up to date');
}
