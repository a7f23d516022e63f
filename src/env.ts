/** Readers of environment variables for config.ts and the source profiles: every problem names its variable. */

export type Env = Readonly<Record<string, string | undefined>>;

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

const UUIDISH = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

/** The trimmed value; undefined when unset or blank. */
export function readString(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

export function readInt(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = readString(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) {
    throw new ConfigError(name, `expected a whole number from ${min} to ${max}, got "${raw}"`);
  }
  const value = Number(raw);
  if (value < min || value > max) {
    throw new ConfigError(name, `expected a whole number from ${min} to ${max}, got ${value}`);
  }
  return value;
}

export function readBool(env: Env, name: string, fallback: boolean): boolean {
  const raw = readString(env, name)?.toLowerCase();
  if (raw === undefined) return fallback;
  if (['true', '1', 'yes'].includes(raw)) return true;
  if (['false', '0', 'no'].includes(raw)) return false;
  throw new ConfigError(name, `expected true or false, got "${raw}"`);
}

/** An http(s) base URL without credentials, query or fragment, and without a trailing slash. */
export function readUrl(env: Env, name: string, fallback: string): string {
  const raw = readString(env, name) ?? fallback;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(name, 'is not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(name, 'must be an http:// or https:// URL');
  }
  if (url.username || url.password) {
    throw new ConfigError(name, 'must not carry credentials; use V4_CLIENT_ID and V4_CLIENT_SECRET');
  }
  if (url.search || url.hash) {
    throw new ConfigError(name, 'must not have a query string or fragment');
  }
  return url.toString().replace(/\/+$/, '');
}

/** An id of the shape the upstreams use (UUIDs and similar tokens); null when unset. */
export function readId(env: Env, name: string): string | null {
  const value = readString(env, name);
  if (value === undefined) return null;
  if (!isIdLike(value)) throw new ConfigError(name, 'has characters an id cannot have');
  return value;
}

export function isIdLike(value: string): boolean {
  return UUIDISH.test(value);
}
