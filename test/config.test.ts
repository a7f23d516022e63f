import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { runToExit } from './support/process.js';

describe('configuration', () => {
  it('defaults to the embedded demo upstream with documented defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      upstream: 'demo',
      source: { kind: 'v4', apiUrl: 'https://api.data.v4.marketing', credentials: null },
      port: 4000,
      host: '127.0.0.1',
      upstreamPageSize: 500,
      defaultPageSize: 50,
      maxPageSize: 250,
      upstreamTimeoutMs: 10_000,
      maxUpstreamCallsPerRequest: 20,
      demoLeads: 3000,
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(loadConfig({ LEADGRAPH_DEMO_LEADS: '100000' }).demoLeads).toBe(100_000);
    expect(loadConfig({ LEADGRAPH_SOURCE: 'kommo' }).maxUpstreamCallsPerRequest).toBe(35);
  });

  it('chooses the Kommo source from its settings, with Kommo defaults', () => {
    const config = loadConfig({ KOMMO_BASE_URL: 'https://acme.kommo.com/', KOMMO_TOKEN: 'tok' });
    expect(config).toMatchObject({
      source: { kind: 'kommo', baseUrl: 'https://acme.kommo.com', ratePerSecond: 7 },
      upstream: 'configured',
      upstreamPageSize: 250,
    });
    expect(loadConfig({ LEADGRAPH_SOURCE: 'kommo' })).toMatchObject({ source: { kind: 'kommo' }, upstream: 'demo' });
  });

  it('accepts a V4-only switch left at its default value with the Kommo source', () => {
    expect(loadConfig({ LEADGRAPH_SOURCE: 'kommo', LEADGRAPH_CREDENTIALS_FROM_REQUEST: 'false' }).source.kind).toBe('kommo');
  });

  it('serves V4 when all three credentials are set', () => {
    const config = loadConfig({ V4_CLIENT_ID: 'c1', V4_CLIENT_SECRET: 's3cr3t', V4_WORKSPACE_ID: 'w1', V4_API_URL: 'http://127.0.0.1:9/' });
    expect(config.upstream).toBe('configured');
    expect(config.source).toMatchObject({ kind: 'v4', apiUrl: 'http://127.0.0.1:9' });
  });

  const bad: [Record<string, string>, string, RegExp][] = [
    [{ V4_CLIENT_ID: 'c1' }, 'V4_CLIENT_SECRET', /is missing/],
    [{ V4_CLIENT_ID: 'c1', V4_CLIENT_SECRET: 's' }, 'V4_WORKSPACE_ID', /is missing/],
    [{ V4_API_URL: 'not a url' }, 'V4_API_URL', /not a valid URL/],
    [{ V4_API_URL: 'ftp://example.com' }, 'V4_API_URL', /http/],
    [{ V4_API_URL: 'https://user:pw@example.com' }, 'V4_API_URL', /credentials/],
    [{ PORT: 'eighty' }, 'PORT', /whole number/],
    [{ PORT: '70000' }, 'PORT', /whole number/],
    [{ LEADGRAPH_UPSTREAM_PAGE_SIZE: '6000' }, 'LEADGRAPH_UPSTREAM_PAGE_SIZE', /1 to 5000/],
    [{ LEADGRAPH_MAX_PAGE_SIZE: '0' }, 'LEADGRAPH_MAX_PAGE_SIZE', /1 to 5000/],
    [{ LEADGRAPH_DEFAULT_PAGE_SIZE: '300' }, 'LEADGRAPH_DEFAULT_PAGE_SIZE', /must not exceed/],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL', /one of/],
    [{ LEADGRAPH_SOURCE: 'salesforce' }, 'LEADGRAPH_SOURCE', /expected v4 or kommo/],
    [{ LEADGRAPH_CORS_ORIGINS: '*' }, 'LEADGRAPH_CORS_ORIGINS', /"\*" is not an origin/],
    [{ LEADGRAPH_CORS_ORIGINS: 'https://app.example.com/' }, 'LEADGRAPH_CORS_ORIGINS', /is not an origin/],
    [{ LEADGRAPH_CORS_ORIGINS: 'https://ok.example, ftp://x.example' }, 'LEADGRAPH_CORS_ORIGINS', /"ftp:\/\/x.example" is not an origin/],
    [{ LEADGRAPH_ALLOWED_HOSTS: 'gateway.internal:8080' }, 'LEADGRAPH_ALLOWED_HOSTS', /not a host name/],
    [{ KOMMO_BASE_URL: 'https://x.kommo.com' }, 'KOMMO_TOKEN', /is missing/],
    [{ KOMMO_TOKEN: 't' }, 'KOMMO_BASE_URL', /is missing/],
    [{ LEADGRAPH_SOURCE: 'v4', KOMMO_BASE_URL: 'https://x.kommo.com', KOMMO_TOKEN: 't' }, 'LEADGRAPH_SOURCE', /is v4 while KOMMO_BASE_URL/],
    [
      { LEADGRAPH_SOURCE: 'kommo', V4_CLIENT_ID: 'c', V4_CLIENT_SECRET: 's', V4_WORKSPACE_ID: 'w' },
      'LEADGRAPH_SOURCE',
      /is kommo while V4_CLIENT_ID/,
    ],
    [{ LEADGRAPH_SOURCE: 'kommo', LEADGRAPH_CREDENTIALS_FROM_REQUEST: 'true' }, 'LEADGRAPH_CREDENTIALS_FROM_REQUEST', /v4 source only/],
    [{ LEADGRAPH_SOURCE: 'kommo', LEADGRAPH_UPSTREAM_PAGE_SIZE: '500' }, 'LEADGRAPH_UPSTREAM_PAGE_SIZE', /1 to 250/],
    [{ LEADGRAPH_DEMO_LEADS: '0' }, 'LEADGRAPH_DEMO_LEADS', /1 to 1000000/],
    [
      { LEADGRAPH_CREDENTIALS_FROM_REQUEST: 'true', V4_CLIENT_ID: 'c', V4_CLIENT_SECRET: 's', V4_WORKSPACE_ID: 'w' },
      'LEADGRAPH_CREDENTIALS_FROM_REQUEST',
      /unset those/,
    ],
  ];
  for (const [env, variable, message] of bad) {
    it(`rejects ${JSON.stringify(env)} naming ${variable}`, () => {
      let error: unknown;
      try {
        loadConfig(env);
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).variable).toBe(variable);
      expect((error as ConfigError).message).toMatch(message);
    });
  }

  it('the process exits with one line naming the variable, and never echoes the secret', async () => {
    const { code, stdout, stderr } = await runToExit(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      V4_CLIENT_ID: 'c1',
      V4_CLIENT_SECRET: 'topsecret-value-123',
    });
    expect(code).toBe(2);
    expect(stderr.trim().split('\n')).toEqual([expect.stringMatching(/^leadgraph: invalid configuration: V4_WORKSPACE_ID: is missing/)]);
    expect(stderr + stdout).not.toContain('topsecret-value-123');
  });
});
