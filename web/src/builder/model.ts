// The flow format (docs/flows.md): React Flow nodes and edges, with one source handle per exit.
import type { Edge, Node } from '@xyflow/react';

export type NodeData = Record<string, unknown>;
export type FlowNode = Node<NodeData>;
export type FlowEdge = Edge;

export const NODE_TYPES = [
  'start',
  'message',
  'question',
  'buttons',
  'list',
  'condition',
  'set_variable',
  'http_request',
  'delay',
  'jump',
  'handoff',
  'end',
] as const;
export type NodeType = (typeof NODE_TYPES)[number];

export const NODE_LABELS: Record<string, string> = {
  start: 'Start',
  message: 'Message',
  question: 'Question',
  buttons: 'Buttons',
  list: 'List',
  condition: 'Condition',
  set_variable: 'Set variable',
  http_request: 'HTTP request',
  delay: 'Delay',
  jump: 'Jump',
  handoff: 'Hand off',
  end: 'End',
};

export const NODE_COLORS: Record<string, string> = {
  start: '#2f9e44',
  message: '#1c7ed6',
  question: '#7048e8',
  buttons: '#f08c00',
  list: '#e8590c',
  condition: '#c2255c',
  set_variable: '#0c8599',
  http_request: '#5c940d',
  delay: '#868e96',
  jump: '#495057',
  handoff: '#d6336c',
  end: '#343a40',
};

export interface HandleSpec {
  /** The edge's sourceHandle; null is the default exit. */
  id: string | null;
  label: string;
}

type Obj = Record<string, unknown>;
const asArray = (v: unknown): Obj[] => (Array.isArray(v) ? (v.filter((x) => x && typeof x === 'object') as Obj[]) : []);
const str = (v: unknown): string => (typeof v === 'string' ? v : v == null ? '' : String(v));

/** Every exit of a node, in display order. */
export function sourceHandles(type: string | undefined, data: NodeData): HandleSpec[] {
  switch (type) {
    case 'buttons':
      return asArray(data.buttons)
        .filter((b) => str(b.id))
        .map((b) => ({ id: str(b.id), label: str(b.title) || str(b.id) }));
    case 'list':
      return asArray(data.sections)
        .flatMap((s) => asArray(s.rows))
        .filter((r) => str(r.id))
        .map((r) => ({ id: str(r.id), label: str(r.title) || str(r.id) }));
    case 'condition':
      return [
        { id: 'true', label: 'true' },
        { id: 'false', label: 'false' },
      ];
    case 'question':
      return [
        { id: null, label: 'answered' },
        { id: 'gave_up', label: 'gave up' },
      ];
    case 'http_request':
      return [
        { id: 'success', label: 'success' },
        { id: 'error', label: 'error' },
      ];
    case 'jump':
    case 'handoff':
    case 'end':
      return [];
    default:
      return [{ id: null, label: '' }];
  }
}

export const hasTargetHandle = (type: string | undefined) => type !== 'start';

export function normHandle(h: string | null | undefined): string | null {
  return h === undefined || h === null || h === '' ? null : h;
}

/** Default data for a new node: valid or close to it, so a dropped node is useful at once. */
export function defaultData(type: string): NodeData {
  switch (type) {
    case 'start':
      // no keyword yet: "hi" is the demo's (and most first bots'), and of two chatbots with one keyword only the
      // older one ever gets it (the builder would warn keyword_taken at once)
      return { triggerKeywords: [] };
    case 'message':
      return { text: 'Hello {{contact.name}}!' };
    case 'question':
      return { text: 'What is your name?', variable: 'name', validation: { type: 'text' }, maxRetries: 2 };
    case 'buttons':
      return { text: 'Choose an option', buttons: [{ id: 'yes', title: 'Yes' }, { id: 'no', title: 'No' }] };
    case 'list':
      return {
        text: 'Pick one',
        buttonLabel: 'Options',
        sections: [{ title: 'Options', rows: [{ id: 'row_1', title: 'First' }, { id: 'row_2', title: 'Second' }] }],
      };
    case 'condition':
      return { match: 'all', rules: [{ variable: 'name', operator: 'is_set' }] };
    case 'set_variable':
      return { assignments: [{ variable: 'status', value: 'new' }] };
    case 'http_request':
      return { method: 'GET', url: 'https://example.com/api', timeoutSeconds: 10 };
    case 'delay':
      return { seconds: 60 };
    case 'jump':
      return { targetNodeId: '' };
    case 'handoff':
      return { text: 'A member of our team will answer you here.' };
    case 'end':
      return { text: 'Thank you!' };
    default:
      return {};
  }
}

/** A short text shown on the canvas node. */
export function nodeSummary(type: string | undefined, data: NodeData): string {
  switch (type) {
    case 'start': {
      const kw = Array.isArray(data.triggerKeywords) ? (data.triggerKeywords as unknown[]).map(str) : [];
      return kw.length ? `Keywords: ${kw.join(', ')}` : 'Any message';
    }
    case 'question':
      return `${str(data.text)} → {{${str(data.variable)}}}`;
    case 'condition': {
      const rules = asArray(data.rules);
      return rules
        .map((r) => `${str(r.variable)} ${str(r.operator).replace(/_/g, ' ')} ${r.value === undefined ? '' : str(r.value)}`)
        .join(data.match === 'any' ? ' OR ' : ' AND ');
    }
    case 'set_variable': {
      const a = asArray(data.assignments);
      const list = a.length ? a : data.variable ? [{ variable: data.variable, value: data.value }] : [];
      return list.map((x) => `${str(x.variable)} = ${str(x.value)}`).join('; ');
    }
    case 'http_request':
      return `${str(data.method)} ${str(data.url)}`;
    case 'delay':
      return `Wait ${formatSeconds(Number(data.seconds) || 0)}`;
    case 'jump':
      return `→ ${str(data.targetNodeId) || '(no target)'}`;
    case 'message': {
      const m = data.media as Obj | undefined;
      return str(data.text) || (m ? `[${str(m.type)}] ${str(m.url)}` : '');
    }
    default:
      return str(data.text) || str(data.label);
  }
}

export function formatSeconds(s: number): string {
  if (s % 86400 === 0 && s) return `${s / 86400} d`;
  if (s % 3600 === 0 && s) return `${s / 3600} h`;
  if (s % 60 === 0 && s) return `${s / 60} min`;
  return `${s} s`;
}

/** Variables a graph sets: question.variable, set_variable assignments, buttons/list variable, http mapping. */
export function graphVariables(nodes: FlowNode[]): string[] {
  const out = new Set<string>(['contact.name', 'contact.phone', 'last_input']);
  for (const n of nodes) {
    const d = n.data ?? {};
    if (typeof d.variable === 'string' && d.variable) out.add(d.variable);
    if (typeof d.statusVariable === 'string' && d.statusVariable) out.add(d.statusVariable);
    for (const a of asArray(d.assignments)) if (str(a.variable)) out.add(str(a.variable));
    for (const m of asArray(d.responseMapping)) if (str(m.variable)) out.add(str(m.variable));
  }
  return [...out].sort();
}

/** Nodes and edges as the API stores them (no React Flow runtime fields). */
export function serializeGraph(nodes: FlowNode[], edges: FlowEdge[]) {
  return {
    nodes: nodes.map((n) => ({
      id: n.id,
      type: n.type ?? 'message',
      position: { x: Math.round(n.position.x), y: Math.round(n.position.y) },
      data: n.data ?? {},
    })),
    edges: edges.map((e) => ({
      id: e.id,
      source: e.source,
      target: e.target,
      sourceHandle: normHandle(e.sourceHandle),
    })),
  };
}

export function deserializeGraph(
  rawNodes: unknown[],
  rawEdges: unknown[],
): { nodes: FlowNode[]; edges: FlowEdge[]; renamed: { from: string; to: string }[] } {
  // React Flow keeps one node per id: of two saved under one id (a hand-written file, a script) the editor showed
  // one and its next save dropped the other. The later one gets an id of its own here (edges keep pointing at
  // the first), so both are shown and kept.
  const raw = asArray(rawNodes);
  const taken = new Set(raw.map((n) => str(n.id))); // a fresh id must not take one a later node has
  const seen = new Set<string>();
  const renamed: { from: string; to: string }[] = [];
  const nodes = raw.map((n) => {
    let id = str(n.id);
    if (!id || seen.has(id)) {
      const fresh = newId(id || str(n.type) || 'node', taken);
      taken.add(fresh);
      renamed.push({ from: id, to: fresh });
      id = fresh;
    }
    seen.add(id);
    return {
      id,
      type: str(n.type) || 'message',
      position: {
        x: Number((n.position as Obj | undefined)?.x) || 0,
        y: Number((n.position as Obj | undefined)?.y) || 0,
      },
      data: (n.data && typeof n.data === 'object' ? n.data : {}) as NodeData,
    };
  });
  // React Flow tells edges apart by id: one saved through the API without an id (or with a repeated one) gets a
  // fresh one here, and keeps it from the next save on.
  const edgeIds = new Set<string>();
  const edges = asArray(rawEdges).map((e) => {
    let id = str(e.id);
    if (!id || edgeIds.has(id)) id = newId(`e_${str(e.source)}_${str(e.target)}`, edgeIds);
    edgeIds.add(id);
    return {
      id,
      source: str(e.source),
      target: str(e.target),
      sourceHandle: normHandle(e.sourceHandle as string | null | undefined),
    };
  });
  return { nodes, edges, renamed };
}

export function newId(prefix: string, taken: Set<string>): string {
  for (let i = 1; ; i++) {
    const id = `${prefix}_${i}`;
    if (!taken.has(id)) return id;
  }
}

/** JSON with object keys sorted: the database returns a JSONB object's keys in its own order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object')
    return `{${Object.keys(value as Obj)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Obj)[k])}`)
      .join(',')}}`;
  return JSON.stringify(value ?? null);
}

/**
 * What a graph does, as one string: nodes (id, type, data) and edges (source, exit, target), without positions or
 * edge ids, which change nothing for customers. Equal keys mean the draft behaves as the published version.
 */
export function behaviourKey(rawNodes: unknown[] | null | undefined, rawEdges: unknown[] | null | undefined): string | null {
  if (!rawNodes) return null;
  const g = deserializeGraph(rawNodes, rawEdges ?? []);
  const nodes = g.nodes.map((n) => canonical([n.id, n.type, n.data])).sort();
  const edges = g.edges.map((e) => canonical([e.source, e.sourceHandle ?? null, e.target])).sort();
  return `${nodes.join('\n')}\n--\n${edges.join('\n')}`;
}

/** "1 warning", "2 warnings", "0 errors". */
export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
