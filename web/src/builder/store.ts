// The flow builder's state: the graph, selection, clipboard and undo/redo history (zustand, one store per editor).
import {
  applyEdgeChanges,
  applyNodeChanges,
  type Connection,
  type EdgeChange,
  type NodeChange,
  type XYPosition,
} from '@xyflow/react';
import { createStore } from 'zustand/vanilla';
import { autoLayout, pasteOffset } from './layout';
import {
  defaultData,
  type FlowEdge,
  type FlowNode,
  type NodeData,
  newId,
  normHandle,
  sourceHandles,
} from './model';

interface Snapshot {
  nodes: FlowNode[];
  edges: FlowEdge[];
}

export interface FlowState {
  nodes: FlowNode[];
  edges: FlowEdge[];
  past: Snapshot[];
  future: Snapshot[];
  /** Bumped on every change of the graph (not of selection): the autosave watches it. */
  version: number;
  clipboard: Snapshot | null;
  lastRecordKey: string | null;
  lastRecordAt: number;

  load(nodes: FlowNode[], edges: FlowEdge[]): void;
  onNodesChange(changes: NodeChange<FlowNode>[]): void;
  onEdgesChange(changes: EdgeChange<FlowEdge>[]): void;
  connect(connection: Connection): void;
  addNode(type: string, position: XYPosition, data?: NodeData): string;
  updateNodeData(id: string, data: NodeData): void;
  deleteNodes(ids: string[]): void;
  deleteSelection(): void;
  selectOnly(id: string | null): void;
  copySelection(): number;
  paste(): string[];
  undo(): void;
  redo(): void;
  layout(): void;
}

const HISTORY_LIMIT = 100;
const COALESCE_MS = 1000;

export function createFlowStore(initial?: { nodes: FlowNode[]; edges: FlowEdge[] }) {
  return createStore<FlowState>()((set, get) => {
    /** Saves the current graph for undo. Edits with the same key within a second count as one step. */
    const record = (key: string | null = null) => {
      const s = get();
      const now = Date.now();
      if (key && key === s.lastRecordKey && now - s.lastRecordAt < COALESCE_MS) {
        set({ lastRecordAt: now });
        return;
      }
      const past = [...s.past, { nodes: s.nodes, edges: s.edges }].slice(-HISTORY_LIMIT);
      set({ past, future: [], lastRecordKey: key, lastRecordAt: now });
    };
    const changed = (patch: Partial<FlowState>) => set((s) => ({ ...patch, version: s.version + 1 }));

    return {
      nodes: initial?.nodes ?? [],
      edges: initial?.edges ?? [],
      past: [],
      future: [],
      version: 0,
      clipboard: null,
      lastRecordKey: null,
      lastRecordAt: 0,

      load(nodes, edges) {
        set({ nodes, edges, past: [], future: [], version: 0, lastRecordKey: null });
      },

      onNodesChange(changes) {
        const meaningful = changes.filter((c) => c.type !== 'select' && c.type !== 'dimensions');
        const dragStart = changes.some(
          (c) => c.type === 'position' && c.dragging && !get().nodes.find((n) => n.id === c.id)?.dragging,
        );
        const removes = changes.filter((c) => c.type === 'remove').map((c) => c.id);
        if (removes.length) {
          get().deleteNodes(removes);
          changes = changes.filter((c) => c.type !== 'remove');
        }
        if (dragStart) record();
        const nodes = applyNodeChanges(changes, get().nodes);
        // while a node is dragged only the positions move: the change counts (autosave) when the drag ends,
        // so the editor around the canvas doesn't re-render on every mouse move
        if (meaningful.some((c) => c.type !== 'remove' && !(c.type === 'position' && c.dragging))) changed({ nodes });
        else set({ nodes });
      },

      onEdgesChange(changes) {
        const removes = changes.some((c) => c.type === 'remove');
        if (removes) record();
        const edges = applyEdgeChanges(changes, get().edges);
        if (removes) changed({ edges });
        else set({ edges });
      },

      connect(c) {
        if (!c.source || !c.target || c.source === c.target) return;
        record();
        const handle = normHandle(c.sourceHandle);
        // Each exit has at most one edge: a new connection replaces the old one.
        const kept = get().edges.filter((e) => !(e.source === c.source && normHandle(e.sourceHandle) === handle));
        const ids = new Set(get().edges.map((e) => e.id));
        const id = newId(`e-${c.source}-${handle ?? 'next'}`, ids);
        changed({ edges: [...kept, { id, source: c.source, target: c.target, sourceHandle: handle }] });
      },

      addNode(type, position, data) {
        record();
        const ids = new Set(get().nodes.map((n) => n.id));
        const id = newId(type, ids);
        const node: FlowNode = { id, type, position, data: data ?? defaultData(type), selected: true };
        changed({ nodes: [...get().nodes.map((n) => ({ ...n, selected: false })), node] });
        return id;
      },

      updateNodeData(id, data) {
        const node = get().nodes.find((n) => n.id === id);
        if (!node) return;
        record(`data:${id}`);
        const before = sourceHandles(node.type, node.data);
        const after = sourceHandles(node.type, data);
        let edges = get().edges;
        // A renamed button/row id keeps its edge; a removed one loses it.
        if (before.length === after.length) {
          const renames = new Map<string | null, string | null>();
          before.forEach((h, i) => {
            if (h.id !== after[i].id) renames.set(h.id, after[i].id);
          });
          if (renames.size)
            edges = edges.map((e) =>
              e.source === id && renames.has(normHandle(e.sourceHandle))
                ? { ...e, sourceHandle: renames.get(normHandle(e.sourceHandle)) ?? null }
                : e,
            );
        }
        const valid = new Set(after.map((h) => h.id));
        edges = edges.filter((e) => e.source !== id || valid.has(normHandle(e.sourceHandle)));
        changed({ nodes: get().nodes.map((n) => (n.id === id ? { ...n, data } : n)), edges });
      },

      deleteNodes(ids) {
        if (!ids.length) return;
        record();
        const gone = new Set(ids);
        changed({
          nodes: get().nodes.filter((n) => !gone.has(n.id)),
          edges: get().edges.filter((e) => !gone.has(e.source) && !gone.has(e.target)),
        });
      },

      deleteSelection() {
        const nodeIds = get().nodes.filter((n) => n.selected).map((n) => n.id);
        const edgeIds = new Set(get().edges.filter((e) => e.selected).map((e) => e.id));
        if (!nodeIds.length && !edgeIds.size) return;
        record();
        const gone = new Set(nodeIds);
        changed({
          nodes: get().nodes.filter((n) => !gone.has(n.id)),
          edges: get().edges.filter((e) => !edgeIds.has(e.id) && !gone.has(e.source) && !gone.has(e.target)),
        });
      },

      selectOnly(id) {
        set({
          nodes: get().nodes.map((n) => (n.selected === (n.id === id) ? n : { ...n, selected: n.id === id })),
          edges: get().edges.map((e) => (e.selected ? { ...e, selected: false } : e)),
        });
      },

      copySelection() {
        const nodes = get().nodes.filter((n) => n.selected);
        const ids = new Set(nodes.map((n) => n.id));
        const edges = get().edges.filter((e) => ids.has(e.source) && ids.has(e.target));
        set({ clipboard: nodes.length ? { nodes, edges } : null });
        return nodes.length;
      },

      paste() {
        const clip = get().clipboard;
        if (!clip) return [];
        record();
        const taken = new Set(get().nodes.map((n) => n.id));
        const map = new Map<string, string>();
        const offset = pasteOffset(get().nodes, clip.nodes);
        const fresh = clip.nodes.map((n) => {
          const id = newId(n.type ?? 'node', taken);
          taken.add(id);
          map.set(n.id, id);
          return {
            ...n,
            id,
            selected: true,
            position: { x: n.position.x + offset.x, y: n.position.y + offset.y },
            data: structuredClone(n.data),
          };
        });
        const edgeIds = new Set(get().edges.map((e) => e.id));
        const freshEdges = clip.edges.map((e) => {
          const id = newId(`e-${map.get(e.source)}`, edgeIds);
          edgeIds.add(id);
          return { ...e, id, source: map.get(e.source)!, target: map.get(e.target)!, selected: false };
        });
        changed({
          nodes: [...get().nodes.map((n) => ({ ...n, selected: false })), ...fresh],
          edges: [...get().edges, ...freshEdges],
          // the next paste lands further along
          clipboard: { nodes: fresh.map((n) => ({ ...n, selected: false })), edges: freshEdges },
        });
        return fresh.map((n) => n.id);
      },

      undo() {
        const { past, nodes, edges, future } = get();
        const prev = past[past.length - 1];
        if (!prev) return;
        changed({ nodes: prev.nodes, edges: prev.edges, past: past.slice(0, -1), future: [{ nodes, edges }, ...future], lastRecordKey: null });
      },

      redo() {
        const { past, nodes, edges, future } = get();
        const next = future[0];
        if (!next) return;
        changed({ nodes: next.nodes, edges: next.edges, past: [...past, { nodes, edges }], future: future.slice(1), lastRecordKey: null });
      },

      layout() {
        record();
        changed({ nodes: autoLayout(get().nodes, get().edges) });
      },
    };
  });
}

export type FlowStore = ReturnType<typeof createFlowStore>;
