/**
 * Trusted documents (persisted operations): the manifests client builds emit, id -> document, read once
 * at start. Two shapes are read: graphql-codegen's client preset (`persisted-documents.json`, an object
 * of sha256 -> document) and Apollo's persisted query manifest (`{ format, version, operations: [{ id,
 * body }] }`). A manifest that cannot be read, is not one of these, or holds a document that does not
 * parse stops the gateway at start, naming the file.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'graphql';
import { ConfigError, type Env, readString } from './env.js';

export interface PersistedDocuments {
  /** The manifests read, as given. */
  readonly files: readonly string[];
  /** Document text by id (ids without a `sha256:` prefix). */
  readonly documents: ReadonlyMap<string, string>;
}

/** Ids as manifests and clients write them: hashes, or names a build gave; short and header-safe. */
const ID = /^[A-Za-z0-9_.:-]{1,200}$/;

/** An id as the store keys it: the GraphQL-over-HTTP draft's prefixed form `sha256:<hash>` is the bare hash. */
export const documentIdKey = (id: string): string => (id.startsWith('sha256:') ? id.slice('sha256:'.length) : id);

function entriesOf(manifest: unknown): [string, unknown][] | null {
  if (typeof manifest !== 'object' || manifest === null || Array.isArray(manifest)) return null;
  const apollo = manifest as { format?: unknown; operations?: unknown };
  if (apollo.format === 'apollo-persisted-query-manifest') {
    if (!Array.isArray(apollo.operations)) return null;
    return apollo.operations.map((operation: { id?: unknown; body?: unknown } | null) => [String(operation?.id ?? ''), operation?.body]);
  }
  return Object.entries(manifest);
}

function readManifest(variable: string, file: string, into: Map<string, { document: string; file: string }>): void {
  const fail = (message: string): never => {
    throw new ConfigError(variable, `${file}: ${message}`);
  };
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    fail(`cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let manifest: unknown;
  try {
    manifest = JSON.parse(text);
  } catch (error) {
    fail(`is not JSON (${(error as Error).message.slice(0, 120)})`);
  }
  const entries = entriesOf(manifest);
  if (entries === null)
    fail('is not a manifest: expected an object of id -> document (graphql-codegen) or an Apollo persisted query manifest');
  if (entries?.length === 0) fail('holds no document');
  for (const [id, document] of entries ?? []) {
    const shownId = JSON.stringify(id.slice(0, 80));
    if (!ID.test(id)) fail(`the id ${shownId} is not an id (1 to 200 letters, digits, and _ . : -)`);
    if (typeof document !== 'string') fail(`the document of ${shownId} is not a string`);
    try {
      parse(document as string);
    } catch (error) {
      fail(`the document of ${shownId} does not parse: ${(error as Error).message.slice(0, 160)}`);
    }
    const key = documentIdKey(id);
    const known = into.get(key);
    if (known && known.document !== document) fail(`the id ${shownId} names another document in ${known.file}`);
    into.set(key, { document: document as string, file });
  }
}

/** The manifests a comma-separated variable names, merged; null when it is unset. */
export function readPersistedDocuments(env: Env, variable: string): PersistedDocuments | null {
  const raw = readString(env, variable);
  if (raw === undefined) return null;
  const files = raw
    .split(',')
    .map((file) => file.trim())
    .filter(Boolean);
  const found = new Map<string, { document: string; file: string }>();
  for (const file of files) readManifest(variable, file, found);
  return Object.freeze({
    files: Object.freeze(files),
    documents: new Map([...found].map(([id, { document }]) => [id, document])),
  });
}
