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

/**
 * How far to move pasted nodes so that none lands on a node already there: straight down by the group's own
 * height (and again while that spot is taken), keeping the group's shape. A small diagonal step left a pasted
 * node over most of the one it was copied from.
 */
export function pasteOffset(existing: FlowNode[], group: FlowNode[]): { x: number; y: number } {
  if (!group.length) return { x: 0, y: 0 };
  const box = (n: FlowNode) => ({ x: n.position.x, y: n.position.y, w: n.measured?.width ?? DEFAULT_W, h: n.measured?.height ?? DEFAULT_H });
  const top = Math.min(...group.map((n) => box(n).y));
  const bottom = Math.max(...group.map((n) => box(n).y + box(n).h));
  const step = bottom - top + 30;
  const taken = existing.map(box);
  for (let k = 1; k <= 50; k++) {
    const dy = k * step;
    const clear = group.map(box).every((g) => !taken.some((t) => g.x < t.x + t.w && g.x + g.w > t.x && g.y + dy < t.y + t.h && g.y + dy + g.h > t.y));
    if (clear) return { x: 0, y: dy };
  }
  return { x: 40, y: 40 };
}
