/**
 * Relay cursor connections over an upstream that pages by page/limit and may spread one lead over
 * several adjacent rows. Positions are upstream row offsets; a cursor holds the row span of its lead
 * ([start, end)) and a fingerprint of the filter, so it resumes exactly where the lead was, and a
 * cursor used with another filter is refused instead of silently paging the wrong result.
 */
import { createHash } from 'node:crypto';
import { BadUserInputError, DomainError } from './errors.js';
import { blocksOf, type Lead, type LeadBlock, type LeadQuery, matchesQuery, mergeLeadFragments } from './sources/adapter.js';

export interface ConnectionArgs {
  readonly first?: number | null | undefined;
  readonly after?: string | null | undefined;
  readonly last?: number | null | undefined;
  readonly before?: string | null | undefined;
}

export interface PageSettings {
  readonly defaultPageSize: number;
  readonly maxPageSize: number;
}

/** Everything that decides which leads a connection holds. */
export interface LeadSelection {
  readonly query: LeadQuery;
  readonly includeDeleted: boolean;
}

export interface LeadEdge {
  readonly cursor: string;
  readonly node: Lead;
}

export interface LeadPage {
  readonly edges: readonly LeadEdge[];
  readonly pageInfo: {
    readonly hasNextPage: boolean;
    readonly hasPreviousPage: boolean;
    readonly startCursor: string | null;
    readonly endCursor: string | null;
  };
  /** Upstream row total when reported: an upper bound on the number of leads. */
  readonly totalRows: number | null;
  /** The exact number of leads, when it can be counted from at most `COUNT_MAX_BLOCKS` blocks. */
  readonly count: () => Promise<number | null>;
}

/** Reads block `index` of the selection's upstream result (memoized per request by the caller). */
export type BlockReader = (index: number) => Promise<LeadBlock>;

/** An exact `totalCount` may read this many upstream blocks (shared with the page itself). */
const COUNT_MAX_BLOCKS = 2;

interface Span {
  readonly kommoId: string;
  lead: Lead;
  start: number;
  end: number;
}

interface Cursor {
  readonly start: number;
  readonly end: number;
}

const CURSOR_PREFIX = 'lg1';

// The pager and the per-request block reader both need a selection's fingerprint: hash it once.
const fingerprints = new WeakMap<LeadSelection, string>();

export function fingerprint(selection: LeadSelection): string {
  let print = fingerprints.get(selection);
  if (print === undefined) {
    print = computeFingerprint(selection);
    fingerprints.set(selection, print);
  }
  return print;
}

function computeFingerprint(selection: LeadSelection): string {
  const { query } = selection;
  const canonical = Object.keys(query)
    .sort()
    .map((key) => {
      const value = query[key as keyof LeadQuery];
      return [key, value instanceof Date ? value.toISOString() : value];
    });
  return createHash('sha256')
    .update(JSON.stringify([canonical, selection.includeDeleted]))
    .digest('hex')
    .slice(0, 12);
}

export function encodeCursor(span: Cursor, print: string): string {
  return Buffer.from(`${CURSOR_PREFIX}:${span.start}:${span.end}:${print}`).toString('base64url');
}

/** Whether a cursor looks like one of an upstream walk (row offsets), without checking it further. */
export function isUpstreamCursor(value: string | null | undefined): boolean {
  return typeof value === 'string' && value.length <= 100 && value.startsWith(UPSTREAM_CURSOR_START);
}

/** `lg1:` in base64url: every upstream cursor starts so. */
const UPSTREAM_CURSOR_START = Buffer.from(`${CURSOR_PREFIX}:`).toString('base64url').slice(0, 4);

export function decodeCursor(value: string, print: string, argument: 'after' | 'before'): Cursor {
  const text = value.length <= 100 && /^[A-Za-z0-9_-]+$/.test(value) ? Buffer.from(value, 'base64url').toString() : '';
  const match = /^lg1:(\d{1,12}):(\d{1,12}):([0-9a-f]{12})$/.exec(text);
  const start = Number(match?.[1]);
  const end = Number(match?.[2]);
  if (!match || !(start < end)) {
    throw new BadUserInputError(`"${argument}" is not a cursor of this API: pass a cursor from a previous page unchanged`, argument);
  }
  if (match[3] !== print) {
    throw new BadUserInputError(
      `"${argument}" is a cursor of a different filter: cursors only work with the filter of the page that returned them`,
      argument,
    );
  }
  return { start, end };
}

function checkSize(name: 'first' | 'last', value: number | null | undefined, max: number): number | null {
  if (value === null || value === undefined) return null;
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new BadUserInputError(`"${name}" must be a whole number from 0 to ${max}, got ${value}`, name);
  }
  return value;
}

/** `first` and `last` checked: each from 0 to the maximum page size, not both. */
export function checkPageArgs(
  args: Pick<ConnectionArgs, 'first' | 'last'>,
  settings: PageSettings,
): { first: number | null; last: number | null } {
  const first = checkSize('first', args.first, settings.maxPageSize);
  const last = checkSize('last', args.last, settings.maxPageSize);
  if (first !== null && last !== null) {
    throw new BadUserInputError('Pass "first" (with "after") or "last" (with "before"), not both', 'last');
  }
  return { first, last };
}

/** Resolves one page of a lead connection. */
export async function paginateLeads(
  selection: LeadSelection,
  args: ConnectionArgs,
  settings: PageSettings,
  blockSize: number,
  readBlock: BlockReader,
): Promise<LeadPage> {
  let { first, last } = checkPageArgs(args, settings);
  const print = fingerprint(selection);
  const after = args.after ? decodeCursor(args.after, print, 'after') : null;
  const before = args.before ? decodeCursor(args.before, print, 'before') : null;
  if (first === null && last === null) {
    if (before && !after) last = settings.defaultPageSize;
    else first = settings.defaultPageSize;
  }

  const keep = (span: Span): boolean => (selection.includeDeleted || !span.lead.isDeleted) && matchesQuery(span.lead, selection.query);
  const scanner = new Scanner(blockSize, readBlock, keep);
  const lower = after?.end ?? 0;

  let spans: Span[];
  let hasNextPage: boolean;
  let hasPreviousPage: boolean;
  if (first !== null) {
    const found = await scanner.forward(lower, before?.start ?? Number.POSITIVE_INFINITY, first + 1);
    spans = found.spans.slice(0, first);
    hasNextPage = found.spans.length > first || found.truncated;
    hasPreviousPage = after !== null;
  } else {
    const size = last as number;
    let upper = before?.start;
    if (upper === undefined) {
      const head = await readBlock(0);
      if (head.isLast) upper = blockSize;
      else if (head.totalRows !== null) upper = head.totalRows;
      else {
        throw new BadUserInputError(
          '"last" without "before" needs the total number of rows, which this upstream does not report: page forward with "first", or pass "before"',
          'last',
        );
      }
    }
    const found = await scanner.backward(upper, lower, size + 1);
    spans = found.spans.slice(Math.max(0, found.spans.length - size));
    hasPreviousPage = found.spans.length > size || found.truncated;
    hasNextPage = before !== null;
  }

  const edges = spans.map((span) => ({ cursor: encodeCursor(span, print), node: span.lead }));
  const head = scanner.firstBlock;
  return {
    edges,
    pageInfo: {
      hasNextPage,
      hasPreviousPage,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
    totalRows: head?.totalRows ?? null,
    count: async () => {
      const block = await readBlock(0);
      const blocks = blocksOf(block, blockSize);
      if (blocks === null || blocks > COUNT_MAX_BLOCKS) return null;
      const counter = new Scanner(blockSize, readBlock, keep, () => COUNT_MAX_BLOCKS);
      const all = await counter.forward(0, Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY).catch((error: unknown) => {
        if (error instanceof DomainError && error.code === 'UPSTREAM_SCAN_LIMIT') return null;
        throw error;
      });
      return all && !all.truncated ? all.spans.length : null;
    },
  };
}

/**
 * Walks upstream blocks forward or backward, merging the adjacent rows of one lead (also across a
 * block boundary) into one span, and collecting the spans `keep` accepts.
 */
class Scanner {
  firstBlock: LeadBlock | undefined;

  constructor(
    private readonly blockSize: number,
    private readonly readBlock: BlockReader,
    private readonly keep: (span: Span) => boolean,
    /** A safety valve against an upstream that ignores a filter: blocks one scan may read. */
    private readonly maxBlocks = (want: number): number => Math.max(10, Math.ceil((want * 20) / blockSize)),
  ) {}

  private async read(index: number): Promise<LeadBlock> {
    const block = await this.readBlock(index);
    if (index === 0) this.firstBlock = block;
    return block;
  }

  /** Spans starting in [from, to), in row order, until `want` are kept. */
  async forward(from: number, to: number, want: number): Promise<{ spans: Span[]; truncated: boolean }> {
    const spans: Span[] = [];
    let current: Span | null = null;
    const close = (): void => {
      if (current && this.keep(current)) spans.push(current);
      current = null;
    };
    for (let index = Math.floor(from / this.blockSize), read = 0; ; index += 1, read += 1) {
      if (read >= this.maxBlocks(want)) return this.giveUp(spans, read);
      const block = await this.read(index);
      // Only rows inside the window are parsed (fragments may parse lazily): `lead` is read for them alone.
      for (const fragment of block.fragments) {
        const { position } = fragment;
        if (position < from) continue;
        if (position >= to) {
          close();
          return { spans, truncated: false };
        }
        const open: Span | null = current;
        if (open && open.kommoId === fragment.kommoId) {
          open.lead = mergeLeadFragments(open.lead, fragment.lead);
          open.end = position + 1;
          continue;
        }
        close();
        if (spans.length >= want) return { spans, truncated: false };
        current = { kommoId: fragment.kommoId, lead: fragment.lead, start: position, end: position + 1 };
      }
      if (block.isLast) {
        close();
        return { spans, truncated: false };
      }
    }
  }

  /** Spans ending at or before `to` and starting at or after `from`, nearest first, until `want`; returned in row order. */
  async backward(to: number, from: number, want: number): Promise<{ spans: Span[]; truncated: boolean }> {
    const spans: Span[] = [];
    let current: Span | null = null;
    const close = (): void => {
      if (current && this.keep(current)) spans.push(current);
      current = null;
    };
    let read = 0;
    for (let index = Math.floor((to - 1) / this.blockSize); index >= 0; index -= 1, read += 1) {
      if (read >= this.maxBlocks(want)) return this.giveUp(spans.reverse(), read);
      const { fragments } = await this.read(index);
      for (let i = fragments.length - 1; i >= 0; i -= 1) {
        const fragment = fragments[i] as (typeof fragments)[number];
        const { position } = fragment;
        if (position >= to) continue;
        if (position < from) {
          close();
          return { spans: spans.reverse(), truncated: false };
        }
        const open: Span | null = current;
        if (open && open.kommoId === fragment.kommoId) {
          open.lead = mergeLeadFragments(fragment.lead, open.lead);
          open.start = position;
          continue;
        }
        close();
        if (spans.length >= want) return { spans: spans.reverse(), truncated: false };
        current = { kommoId: fragment.kommoId, lead: fragment.lead, start: position, end: position + 1 };
      }
    }
    close();
    return { spans: spans.reverse(), truncated: false };
  }

  private giveUp(spans: Span[], read: number): { spans: Span[]; truncated: boolean } {
    if (spans.length > 0) return { spans, truncated: true };
    throw new DomainError(
      'UPSTREAM_SCAN_LIMIT',
      `No matching lead in ${read} upstream pages: the upstream may be ignoring a filter; narrow the filter`,
    );
  }
}
