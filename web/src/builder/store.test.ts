import { describe, expect, it } from 'vitest';
import { deserializeGraph, graphVariables, serializeGraph, sourceHandles } from './model';
import { createFlowStore } from './store';

function fresh() {
  return createFlowStore({ nodes: [], edges: [] });
}

describe('flow store', () => {
  it('adds nodes with unique ids and default data', () => {
    const s = fresh().getState;
    const a = s().addNode('message', { x: 0, y: 0 });
    const b = s().addNode('message', { x: 10, y: 0 });
    expect(a).toBe('message_1');
    expect(b).toBe('message_2');
    expect(s().nodes.find((n) => n.id === a)?.data.text).toBeTruthy();
    expect(s().version).toBe(2);
  });

  it('counts a drag as one change when it ends, and undoes it in one step', () => {
    const s = fresh().getState;
    const a = s().addNode('message', { x: 0, y: 0 });
    const v = s().version;
    for (let i = 1; i <= 5; i++) s().onNodesChange([{ type: 'position', id: a, position: { x: i * 10, y: 0 }, dragging: true }]);
    expect(s().version).toBe(v);
    expect(s().nodes[0].position).toEqual({ x: 50, y: 0 });
    s().onNodesChange([{ type: 'position', id: a, position: { x: 60, y: 0 }, dragging: false }]);
    expect(s().version).toBe(v + 1);
    s().undo();
    expect(s().nodes[0].position).toEqual({ x: 0, y: 0 });
  });

  it('connects handles, one edge per exit', () => {
    const store = fresh();
    const s = store.getState;
    const q = s().addNode('buttons', { x: 0, y: 0 });
    const m1 = s().addNode('message', { x: 0, y: 0 });
    const m2 = s().addNode('message', { x: 0, y: 0 });
    s().connect({ source: q, target: m1, sourceHandle: 'yes', targetHandle: null });
    s().connect({ source: q, target: m2, sourceHandle: 'no', targetHandle: null });
    expect(s().edges).toHaveLength(2);
    // reconnecting the same exit replaces its edge
    s().connect({ source: q, target: m2, sourceHandle: 'yes', targetHandle: null });
    expect(s().edges).toHaveLength(2);
    expect(s().edges.filter((e) => e.sourceHandle === 'yes')[0].target).toBe(m2);
    // self loops are refused
    s().connect({ source: m1, target: m1, sourceHandle: null, targetHandle: null });
    expect(s().edges).toHaveLength(2);
  });

  it('deletes a node with its edges, and undo/redo restore them', () => {
    const s = fresh().getState;
    const a = s().addNode('start', { x: 0, y: 0 });
    const b = s().addNode('message', { x: 0, y: 0 });
    s().connect({ source: a, target: b, sourceHandle: null, targetHandle: null });
    s().deleteNodes([b]);
    expect(s().nodes.map((n) => n.id)).toEqual([a]);
    expect(s().edges).toHaveLength(0);
    s().undo();
    expect(s().nodes).toHaveLength(2);
    expect(s().edges).toHaveLength(1);
    s().redo();
    expect(s().nodes).toHaveLength(1);
    expect(s().edges).toHaveLength(0);
    s().undo();
    s().undo(); // the connect
    expect(s().edges).toHaveLength(0);
    expect(s().nodes).toHaveLength(2);
  });

  it('coalesces quick edits of one node into one undo step', () => {
    const s = fresh().getState;
    const a = s().addNode('message', { x: 0, y: 0 });
    s().updateNodeData(a, { text: 'H' });
    s().updateNodeData(a, { text: 'He' });
    s().updateNodeData(a, { text: 'Hey' });
    s().undo();
    expect(s().nodes[0].data.text).toBe('Hello {{contact.name}}!');
  });

  it('keeps edges when a button id is renamed, drops them when the button goes', () => {
    const s = fresh().getState;
    const q = s().addNode('buttons', { x: 0, y: 0 });
    const m = s().addNode('message', { x: 0, y: 0 });
    s().connect({ source: q, target: m, sourceHandle: 'yes', targetHandle: null });
    s().updateNodeData(q, { text: 'x', buttons: [{ id: 'ok', title: 'OK' }, { id: 'no', title: 'No' }] });
    expect(s().edges[0].sourceHandle).toBe('ok');
    s().updateNodeData(q, { text: 'x', buttons: [{ id: 'no', title: 'No' }] });
    expect(s().edges).toHaveLength(0);
  });

  it('copies and pastes the selection with new ids and inner edges', () => {
    const store = fresh();
    const s = store.getState;
    const a = s().addNode('message', { x: 0, y: 0 });
    const b = s().addNode('end', { x: 100, y: 0 });
    s().connect({ source: a, target: b, sourceHandle: null, targetHandle: null });
    store.setState({ nodes: s().nodes.map((n) => ({ ...n, selected: true })) });
    expect(s().copySelection()).toBe(2);
    const pasted = s().paste();
    expect(pasted).toEqual(['message_2', 'end_2']);
    expect(s().edges).toHaveLength(2);
    expect(s().edges[1]).toMatchObject({ source: 'message_2', target: 'end_2' });
    // below the copied group, its shape kept, on no node (a node of another chain lies right below it)
    const at = (id: string) => s().nodes.find((n) => n.id === id)!.position;
    expect(at('message_2').y).toBeGreaterThanOrEqual(110);
    expect(at('end_2')).toEqual({ x: at('message_2').x + 100, y: at('message_2').y });
    s().undo();
    expect(s().nodes).toHaveLength(2);
    s().addNode('end', { x: 0, y: 140 }); // where the next paste would go
    const again = s().paste();
    const moved = s().nodes.filter((n) => again.includes(n.id)).map((n) => n.position.y);
    expect(Math.min(...moved)).toBeGreaterThanOrEqual(140 + 110);
  });

  it('deletes the selected edges and nodes', () => {
    const store = fresh();
    const s = store.getState;
    const a = s().addNode('start', { x: 0, y: 0 });
    const b = s().addNode('message', { x: 0, y: 0 });
    s().connect({ source: a, target: b, sourceHandle: null, targetHandle: null });
    store.setState({ edges: s().edges.map((e) => ({ ...e, selected: true })), nodes: s().nodes.map((n) => ({ ...n, selected: false })) });
    s().deleteSelection();
    expect(s().edges).toHaveLength(0);
    expect(s().nodes).toHaveLength(2);
  });

  it('auto-layout moves nodes left to right along edges', () => {
    const s = fresh().getState;
    const a = s().addNode('start', { x: 500, y: 500 });
    const b = s().addNode('message', { x: 0, y: 0 });
    s().connect({ source: a, target: b, sourceHandle: null, targetHandle: null });
    s().layout();
    const [na, nb] = s().nodes;
    expect(na.position.x).toBeLessThan(nb.position.x);
    s().undo();
    expect(s().nodes[0].position).toEqual({ x: 500, y: 500 });
  });
});

describe('flow model', () => {
  it('lists one source handle per exit', () => {
    expect(sourceHandles('buttons', { buttons: [{ id: 'a', title: 'A' }, { id: 'b', title: 'B' }] }).map((h) => h.id)).toEqual(['a', 'b']);
    expect(sourceHandles('list', { sections: [{ rows: [{ id: 'r1' }] }, { rows: [{ id: 'r2' }] }] }).map((h) => h.id)).toEqual(['r1', 'r2']);
    expect(sourceHandles('condition', {}).map((h) => h.id)).toEqual(['true', 'false']);
    expect(sourceHandles('question', {}).map((h) => h.id)).toEqual([null, 'gave_up']);
    expect(sourceHandles('http_request', {}).map((h) => h.id)).toEqual(['success', 'error']);
    expect(sourceHandles('message', {}).map((h) => h.id)).toEqual([null]);
    expect(sourceHandles('end', {})).toEqual([]);
    expect(sourceHandles('jump', {})).toEqual([]);
  });

  it('round-trips the API format', () => {
    const raw = {
      nodes: [{ id: 's', type: 'start', position: { x: 1.4, y: 2 }, data: {} }],
      edges: [{ id: 'e', source: 's', target: 't', sourceHandle: '' }],
    };
    const g = deserializeGraph(raw.nodes, raw.edges);
    expect(serializeGraph(g.nodes, g.edges)).toEqual({
      nodes: [{ id: 's', type: 'start', position: { x: 1, y: 2 }, data: {} }],
      edges: [{ id: 'e', source: 's', target: 't', sourceHandle: null }],
    });
  });

  it('gives edges saved without an id (or with a repeated one) ids of their own', () => {
    const { edges } = deserializeGraph(
      [],
      [
        { source: 'a', target: 'b' },
        { id: 'x', source: 'b', target: 'c' },
        { id: 'x', source: 'c', target: 'd' },
        { id: '', source: 'a', target: 'b', sourceHandle: 'no' },
      ],
    );
    const ids = edges.map((e) => e.id);
    expect(ids[1]).toBe('x');
    expect(new Set(ids).size).toBe(4);
    expect(ids.every((id) => id.length > 0)).toBe(true);
  });

  it('gives the later of two nodes saved under one id (or a node without one) an id of its own', () => {
    const { nodes, renamed } = deserializeGraph(
      [
        { id: 'm', type: 'message', data: { text: 'one' } },
        { id: 'm', type: 'message', data: { text: 'two' } },
        { type: 'end', data: {} },
        { id: 'm_1', type: 'message', data: { text: 'three' } },
      ],
      [],
    );
    expect(nodes.map((n) => n.id)).toEqual(['m', 'm_2', 'end_1', 'm_1']);
    expect(nodes.map((n) => n.data.text)).toEqual(['one', 'two', undefined, 'three']);
    expect(renamed).toEqual([
      { from: 'm', to: 'm_2' },
      { from: '', to: 'end_1' },
    ]);
  });

  it('collects the variables a graph sets', () => {
    const { nodes } = deserializeGraph(
      [
        { id: 'q', type: 'question', data: { variable: 'email' } },
        { id: 's', type: 'set_variable', data: { assignments: [{ variable: 'order.total', value: 1 }] } },
        { id: 'h', type: 'http_request', data: { responseMapping: [{ variable: 'temp', path: 'a' }], statusVariable: 'code' } },
        { id: 'b', type: 'buttons', data: { variable: 'choice' } },
      ],
      [],
    );
    expect(graphVariables(nodes)).toEqual(['choice', 'code', 'contact.name', 'contact.phone', 'email', 'last_input', 'order.total', 'temp']);
  });
});

describe('freePosition', () => {
  it('places nodes added one after another beside each other, not on one spot', async () => {
    const { freePosition } = await import('./layout');
    const nodes: { id: string; type: string; position: { x: number; y: number }; data: object }[] = [];
    const placed = [];
    for (let i = 0; i < 4; i++) {
      const p = freePosition(nodes as never, { x: 100, y: 100 });
      placed.push(p);
      nodes.push({ id: `n${i}`, type: 'message', position: p, data: {} });
    }
    expect(placed[0]).toEqual({ x: 100, y: 100 });
    expect(new Set(placed.map((p) => `${p.x},${p.y}`)).size).toBe(4);
    for (const [i, a] of placed.entries())
      for (const b of placed.slice(i + 1)) expect(Math.abs(a.x - b.x) >= 240 || Math.abs(a.y - b.y) >= 110).toBe(true);
  });
});

describe('behaviourKey', () => {
  it('changes with what customers get, not with positions, edge ids or key order', async () => {
    const { behaviourKey } = await import('./model');
    const published = behaviourKey(
      [{ id: 's', type: 'start', position: { x: 0, y: 0 }, data: { triggerKeywords: ['hi'], b: 1 } }, { id: 'm', type: 'message', data: { text: 'Hello' } }],
      [{ id: 'e1', source: 's', target: 'm', sourceHandle: null }],
    );
    const moved = behaviourKey(
      [{ id: 'm', type: 'message', position: { x: 500, y: 9 }, data: { text: 'Hello' } }, { id: 's', type: 'start', data: { b: 1, triggerKeywords: ['hi'] } }],
      [{ id: 'other-id', source: 's', target: 'm' }],
    );
    const edited = behaviourKey(
      [{ id: 's', type: 'start', data: { triggerKeywords: ['hi'], b: 1 } }, { id: 'm', type: 'message', data: { text: 'Hello!' } }],
      [{ id: 'e1', source: 's', target: 'm' }],
    );
    expect(moved).toBe(published);
    expect(edited).not.toBe(published);
    expect(behaviourKey(null, null)).toBeNull();
  });
});
