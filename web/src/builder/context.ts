import { createContext, useContext } from 'react';
import { useStore } from 'zustand';
import type { Problem } from '../api/client';

export type CanvasProblem = Problem & { level: 'error' | 'warning' };
import type { FlowState, FlowStore } from './store';

export interface CanvasDecorations {
  /** Problems (errors and warnings) by node id. */
  problems: Map<string, CanvasProblem[]>;
  /** The node a test run stopped at. */
  currentNodeId: string | null;
  /** Per-node stats overlay. */
  stats: Record<string, { visits: number; dropOffs: number }> | null;
}

export const FlowStoreContext = createContext<FlowStore | null>(null);
export const DecorationsContext = createContext<CanvasDecorations>({ problems: new Map(), currentNodeId: null, stats: null });

export function useFlow<T>(selector: (s: FlowState) => T): T {
  const store = useContext(FlowStoreContext);
  if (!store) throw new Error('useFlow outside a FlowStoreContext');
  return useStore(store, selector);
}

export function useFlowStore(): FlowStore {
  const store = useContext(FlowStoreContext);
  if (!store) throw new Error('useFlowStore outside a FlowStoreContext');
  return store;
}
