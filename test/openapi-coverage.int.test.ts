import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { createTestEnv, type TestEnv } from './harness';
import { routeTable, toOpenApiPath } from './route-table';

// docs/openapi.yaml and the app must list the same (method, path) pairs:
// a route added without documenting it, or documentation of a route that
// does not exist, fails here.

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch', 'options', 'head', 'trace'];

interface OpenApiDoc {
  openapi: string;
  paths: Record<string, Record<string, unknown>>;
  components?: Record<string, Record<string, unknown>>;
}

const doc = parse(readFileSync(join(__dirname, '..', 'docs', 'openapi.yaml'), 'utf8')) as OpenApiDoc;

function documentedOperations(): string[] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.keys(item)
      .filter((k) => HTTP_METHODS.includes(k))
      .map((m) => `${m.toUpperCase()} ${path}`),
  );
}

function refsIn(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) value.forEach((v) => refsIn(v, out));
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === '$ref' && typeof v === 'string') out.push(v);
      else refsIn(v, out);
    }
  }
  return out;
}

describe('docs/openapi.yaml', () => {
  let env: TestEnv;
  let appOperations: string[];

  beforeAll(async () => {
    env = await createTestEnv();
    const { app } = await env.api();
    appOperations = routeTable(app).map((r) => `${r.method} ${toOpenApiPath(r.path)}`);
  });
  afterAll(async () => {
    await env.close();
  });

  it('is OpenAPI 3.1 with the shared Error schema and Idempotency-Key parameter', () => {
    expect(doc.openapi).toMatch(/^3\.1\./);
    expect(doc.components?.schemas).toHaveProperty('Error');
    expect(doc.components?.parameters).toHaveProperty('IdempotencyKey');
  });

  it('documents every route of the app', () => {
    const documented = new Set(documentedOperations());
    expect(appOperations.filter((op) => !documented.has(op))).toEqual([]);
  });

  it('documents no route the app does not have', () => {
    const served = new Set(appOperations);
    expect(documentedOperations().filter((op) => !served.has(op))).toEqual([]);
  });

  it('every $ref resolves', () => {
    const missing = refsIn(doc).filter((ref) => {
      if (!ref.startsWith('#/')) return true;
      let cur: unknown = doc;
      for (const part of ref.slice(2).split('/')) cur = (cur as Record<string, unknown> | undefined)?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
      return cur === undefined;
    });
    expect(missing).toEqual([]);
  });

  it('keeps paths and schemas sorted, so concurrent additions merge cleanly', () => {
    const paths = Object.keys(doc.paths);
    expect(paths).toEqual([...paths].sort());
    const schemas = Object.keys(doc.components?.schemas ?? {});
    expect(schemas).toEqual([...schemas].sort());
  });
});
