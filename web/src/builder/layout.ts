import dagre from 'dagre';
import type { FlowEdge, FlowNode } from './model';

const DEFAULT_W = 240;
const DEFAULT_H = 110;

/** Left-to-right layered layout (dagre). Returns new nodes with new positions. */
export function autoLayout(nodes: FlowNode[], edges: FlowEdge[]): FlowNode[] {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: 'LR', nodesep: 40, ranksep: 90, marginx: 20, marginy: 20 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of nodes) g.setNode(n.id, { width: n.measured?.width ?? DEFAULT_W, height: n.measured?.height ?? DEFAULT_H });
  for (const e of edges) if (g.hasNode(e.source) && g.hasNode(e.target)) g.setEdge(e.source, e.target);
  dagre.layout(g);
  return nodes.map((n) => {
    const p = g.node(n.id);
    const w = n.measured?.width ?? DEFAULT_W;
    const h = n.measured?.height ?? DEFAULT_H;
    return p ? { ...n, position: { x: Math.round(p.x - w / 2), y: Math.round(p.y - h / 2) } } : n;
  });
}

/**
 * Where a node added by a click (not dropped) goes: `wanted`, or the first spot below it, then to its right,
 * that no node covers, so that nodes added one after another do not stack on one spot and hide each other.
 */
export function freePosition(nodes: FlowNode[], wanted: { x: number; y: number }): { x: number; y: number } {
  const overlaps = (x: number, y: number) =>
    nodes.some((n) => {
      const w = n.measured?.width ?? DEFAULT_W;
      const h = n.measured?.height ?? DEFAULT_H;
      return x < n.position.x + w && x + DEFAULT_W > n.position.x && y < n.position.y + h && y + DEFAULT_H > n.position.y;
    });
  for (let column = 0; column < 8; column++) {
    for (let row = 0; row < 8; row++) {
      const x = Math.round(wanted.x + column * (DEFAULT_W + 40));
      const y = Math.round(wanted.y + row * (DEFAULT_H + 30));
      if (!overlaps(x, y)) return { x, y };
    }
  }
  return { x: Math.round(wanted.x), y: Math.round(wanted.y) };
}
