/**
 * leadgraph as a subgraph: composed with a second, small subgraph (campaigns; owns Contact) by a real
 * composition library, served by a real gateway runtime, queried through it. All on loopback.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { composeServices as composeWithApollo } from '@apollo/composition';
import { buildSubgraphSchema, printSubgraphSchema } from '@apollo/subgraph';
import { createGatewayRuntime, type GatewayRuntime } from '@graphql-hive/gateway-runtime';
import { composeServices } from '@theguild/federation-composition';
import { parse } from 'graphql';
import { createYoga } from 'graphql-yoga';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { subgraphSchema } from '../src/schema/index.js';
import { expectedLeads, type Harness, startHarness } from './support/harness.js';

const CAMPAIGNS_SDL = `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.6", import: ["@key", "@shareable"])

  "An ad campaign, owned by the attribution service."
  type Campaign {
    name: String!
    channel: String!
  }

  type Lead @key(fields: "kommoId") {
    kommoId: ID!
    "The campaign that brought the lead in."
    campaign: Campaign
  }

  type Contact @key(fields: "kommoId") {
    kommoId: ID!
    fullName: String!
  }

  type Pipeline @key(fields: "kommoId", resolvable: false) {
    kommoId: ID!
  }

  type User @key(fields: "kommoId", resolvable: false) {
    kommoId: ID!
  }

  type PageInfo @shareable {
    hasNextPage: Boolean!
    hasPreviousPage: Boolean!
    startCursor: String
    endCursor: String
  }

  type Query {
    campaignLeads(ids: [ID!]!): [Lead]!
    campaignPipelines(ids: [ID!]!): [Pipeline]!
    campaignOwners(ids: [ID!]!): [User]!
  }
`;

const CHANNELS = ['instagram', 'google', 'whatsapp'];
const campaignsSchema = buildSubgraphSchema([
  {
    typeDefs: parse(CAMPAIGNS_SDL),
    resolvers: {
      Query: {
        campaignLeads: (_: unknown, args: { ids: string[] }) => args.ids.map((kommoId) => ({ kommoId })),
        campaignPipelines: (_: unknown, args: { ids: string[] }) => args.ids.map((kommoId) => ({ kommoId })),
        campaignOwners: (_: unknown, args: { ids: string[] }) => args.ids.map((kommoId) => ({ kommoId })),
      },
      Lead: {
        __resolveReference: (reference: { kommoId: string }) => reference,
        campaign: (lead: { kommoId: string }) => ({
          name: `Campaign ${Number(lead.kommoId) % 7}`,
          channel: CHANNELS[Number(lead.kommoId) % CHANNELS.length],
        }),
      },
      Contact: {
        __resolveReference: (reference: { kommoId: string }) => ({ ...reference, fullName: `Contact #${reference.kommoId}` }),
      },
    },
  },
]);

async function listen(handler: Parameters<typeof createServer>[1]): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql` };
}

describe('leadgraph in a supergraph', () => {
  let harness: Harness;
  let campaigns: { server: Server; url: string };
  let gateway: GatewayRuntime;
  let supergraphSdl: string;

  const ask = async <T>(query: string, variables?: Record<string, unknown>) => {
    const response = await gateway.fetch('http://127.0.0.1/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query, variables }),
    });
    return (await response.json()) as { data?: T; errors?: { message: string }[] };
  };

  beforeAll(async () => {
    harness = await startHarness({ demo: { latencyMs: 5 }, env: { LEADGRAPH_LEAD_LOOKUP_CONCURRENCY: '4' } });
    campaigns = await listen(createYoga({ schema: campaignsSchema, logging: false }));
    const services = [
      { name: 'leadgraph', typeDefs: parse(printSubgraphSchema(subgraphSchema)), url: harness.url },
      { name: 'campaigns', typeDefs: parse(CAMPAIGNS_SDL), url: campaigns.url },
    ];
    const composed = composeServices(services);
    expect(composed.errors ?? []).toEqual([]);
    supergraphSdl = composed.supergraphSdl as string;
    gateway = createGatewayRuntime({ supergraph: supergraphSdl, logging: false, maskedErrors: false });
  });
  afterAll(async () => {
    await gateway?.dispose();
    campaigns?.server.closeAllConnections();
    await new Promise<void>((resolve) => (campaigns ? campaigns.server.close(() => resolve()) : resolve()));
    await harness?.close();
  });
  beforeEach(() => harness.demo.reset());

  it('composes with Apollo composition too, without errors or hints', () => {
    const result = composeWithApollo([
      { name: 'leadgraph', typeDefs: parse(printSubgraphSchema(subgraphSchema)), url: harness.url },
      { name: 'campaigns', typeDefs: parse(CAMPAIGNS_SDL), url: campaigns.url },
    ]);
    expect(result.errors ?? []).toEqual([]);
    expect((result.hints ?? []).map((hint) => `${hint.definition.code}: ${hint.message}`)).toEqual([]);
  });

  it('the supergraph routes entities by kommoId and keeps Contact owned by the contacts side', () => {
    expect(supergraphSdl).toMatch(/type Lead[^{]*@join__type\(graph: LEADGRAPH, key: "kommoId"\)/);
    expect(supergraphSdl).toMatch(/type Contact[^{]*@join__type\(graph: LEADGRAPH, key: "kommoId", resolvable: false\)/);
  });

  it('answers _service { sdl } with @key and @link', async () => {
    const response = await harness.post({ query: '{ _service { sdl } }' });
    const body = (await response.json()) as { data: { _service: { sdl: string } } };
    expect(body.data._service.sdl).toContain('@link(url: "https://specs.apollo.dev/federation/v2.6"');
    expect(body.data._service.sdl).toContain('type Lead implements Node\n  @key(fields: "kommoId")');
  });

  it('joins leads with their campaign and contacts across both subgraphs, at the cost of one leads block', async () => {
    const result = await ask<{
      leads: {
        edges: {
          node: {
            kommoId: string;
            name: string;
            campaign: { name: string };
            contacts: { kommoId: string; fullName: string }[];
            pipeline: { name: string };
          };
        }[];
      };
    }>(
      '{ leads(first: 20) { edges { node { kommoId name campaign { name channel } contacts { kommoId fullName } pipeline { name } } } } }',
    );
    expect(result.errors).toBeUndefined();
    const edges = result.data?.leads.edges ?? [];
    expect(edges.map((edge) => edge.node.kommoId)).toEqual(
      expectedLeads(harness.demo)
        .slice(0, 20)
        .map((lead) => lead.kommoId),
    );
    expect(edges[0]?.node.campaign.name).toBe(`Campaign ${Number(edges[0]?.node.kommoId) % 7}`);
    const withContacts = edges.find((edge) => edge.node.contacts.length > 0);
    expect(withContacts?.node.contacts[0]?.fullName).toBe(`Contact #${withContacts?.node.contacts[0]?.kommoId}`);
    expect(harness.demo.count('leads')).toBe(1);
    expect(harness.demo.count('pipelines')).toBe(1);
  });

  it('100 pipeline references and 100 user references cost one upstream call each', async () => {
    const pipelineIds = Array.from({ length: 100 }, (_, i) => String(7000001 + (i % 5))); // 7000005 does not exist
    const userIds = Array.from({ length: 100 }, (_, i) => String(9000001 + i)); // 36 exist
    const result = await ask<{ campaignPipelines: ({ name: string } | null)[]; campaignOwners: ({ name: string } | null)[] }>(
      'query($p: [ID!]!, $u: [ID!]!) { campaignPipelines(ids: $p) { kommoId name statuses { name } } campaignOwners(ids: $u) { kommoId name } }',
      { p: pipelineIds, u: userIds },
    );
    // A reference this subgraph does not know resolves to null: the gateway nulls that item, with an error on its path.
    const unknown = (result.errors ?? []).map((error) => error.message);
    expect(unknown).toHaveLength(20 + 64);
    expect(new Set(unknown)).toEqual(
      new Set(['Cannot return null for non-nullable field Pipeline.name.', 'Cannot return null for non-nullable field User.name.']),
    );
    expect(result.data?.campaignPipelines).toHaveLength(100);
    expect(result.data?.campaignPipelines.filter((pipeline) => pipeline === null)).toHaveLength(20);
    expect(result.data?.campaignPipelines[1]).toMatchObject({ kommoId: '7000002', name: 'Partners' });
    expect(result.data?.campaignOwners.filter((user) => user !== null)).toHaveLength(36);
    expect(harness.demo.count('pipelines')).toBe(1);
    expect(harness.demo.count('users')).toBe(1);
  });

  it('100 lead references cost the blocks of the lead table (fewer than the ids), never one call per lead', async () => {
    const distinct = expectedLeads(harness.demo)
      .slice(0, 80)
      .map((lead) => lead.kommoId);
    const ids = [...distinct, ...distinct.slice(0, 20)];
    const result = await ask<{ campaignLeads: ({ kommoId: string; name: string; responsibleUser: { kommoId: string } | null } | null)[] }>(
      'query($ids: [ID!]!) { campaignLeads(ids: $ids) { kommoId name tags { name } responsibleUser { kommoId } } }',
      { ids },
    );
    expect(result.errors).toBeUndefined();
    expect(result.data?.campaignLeads.map((lead) => lead?.kommoId)).toEqual(ids);
    const leadCalls = harness.demo.requests.filter((request) => request.endpoint === 'leads');
    const tableBlocks = Math.ceil(harness.demo.data.leadRows.length / 500);
    expect(leadCalls.every((request) => request.query.leadId === undefined)).toBe(true);
    expect(new Set(leadCalls.map((request) => request.query.page))).toEqual(
      new Set(Array.from({ length: tableBlocks }, (_, i) => String(i + 1))),
    );
    expect(leadCalls.length).toBe(tableBlocks);
    expect(tableBlocks).toBeLessThan(distinct.length);
    expect(harness.demo.maxInFlight).toBeLessThanOrEqual(4);
    expect(harness.demo.count('users')).toBe(1);
  });

  it('a few lead references cost one call per distinct lead, never a duplicate', async () => {
    const distinct = expectedLeads(harness.demo)
      .slice(100, 103)
      .map((lead) => lead.kommoId);
    const result = await ask<{ campaignLeads: ({ kommoId: string } | null)[] }>(
      'query($ids: [ID!]!) { campaignLeads(ids: $ids) { kommoId name } }',
      { ids: [...distinct, distinct[0]] },
    );
    expect(result.errors).toBeUndefined();
    expect(result.data?.campaignLeads.map((lead) => lead?.kommoId)).toEqual([...distinct, distinct[0]]);
    const leadCalls = harness.demo.requests.filter((request) => request.endpoint === 'leads').map((request) => request.query.leadId);
    expect(leadCalls.sort()).toEqual([...distinct].sort());
  });

  it('Relay node(id) keeps working through the gateway', async () => {
    const id = Buffer.from('Pipeline:7000002').toString('base64');
    const result = await ask<{ node: { kommoId: string; name: string } }>(`{ node(id: "${id}") { id ... on Pipeline { kommoId name } } }`);
    expect(result.errors).toBeUndefined();
    expect(result.data?.node).toMatchObject({ kommoId: '7000002', name: 'Partners' });
  });
});
