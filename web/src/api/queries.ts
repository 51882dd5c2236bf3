// TanStack Query hooks over the typed client.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { JSONSchema } from '../builder/SchemaForm';
import { api, ApiError, rawFetch, unwrap, type Chatbot, type ChatbotSummary } from './client';

export const keys = {
  chatbots: ['chatbots'] as const,
  chatbot: (id: string) => ['chatbot', id] as const,
  nodeTypes: ['node-types'] as const,
  /** Prefix of every conversation list (one per search). */
  conversations: ['conversations'] as const,
  conversationList: (q: string, filter: ListFilter = 'all') => ['conversations', q, filter] as const,
  conversation: (id: string) => ['conversation', id] as const,
  messages: (id: string) => ['messages', id] as const,
  context: (id: string) => ['context', id] as const,
  tokens: ['tokens'] as const,
  config: ['whatsapp-config'] as const,
  stats: (id: string) => ['stats', id] as const,
  daily: (days: number) => ['stats-daily', days] as const,
};

/** The connected WhatsApp config (secrets masked), or null when none is. */
/** Which conversations a list shows: all, those with unread customer messages, those handed to a person. */
export type ListFilter = 'all' | 'unread' | 'handedOff';

export function useWhatsAppConfig() {
  return useQuery({
    queryKey: keys.config,
    queryFn: async () => {
      try {
        return await unwrap(api.GET('/api/whatsapp-config'));
      } catch (e) {
        if (e instanceof ApiError && e.status === 404) return null;
        throw e;
      }
    },
  });
}

export function useChatbots() {
  return useQuery({
    queryKey: keys.chatbots,
    queryFn: async () => {
      // Follow every page: a business has tens of chatbots, not thousands.
      const items: ChatbotSummary[] = [];
      let cursor: string | undefined;
      for (let i = 0; i < 20; i++) {
        const page = await unwrap(api.GET('/api/chatbots', { params: { query: { limit: 200, cursor } } }));
        items.push(...page.items);
        if (!page.nextCursor) break;
        cursor = page.nextCursor;
      }
      return items;
    },
  });
}

export function useChatbot(id: string) {
  return useQuery({
    queryKey: keys.chatbot(id),
    queryFn: () => unwrap(api.GET('/api/chatbots/{chatbot_id}', { params: { path: { chatbot_id: id } } })),
    staleTime: Infinity,
  });
}

export type NodeTypes = Record<string, JSONSchema>;

/** The node types' JSON Schemas; falls back to the copy bundled at build time if the server lacks the route. */
export function useNodeTypes() {
  return useQuery({
    queryKey: keys.nodeTypes,
    staleTime: Infinity,
    queryFn: async (): Promise<NodeTypes> => {
      try {
        const body = await rawFetch<{ nodeTypes: NodeTypes }>('/api/flows/node-types');
        return body.nodeTypes;
      } catch (e) {
        if (e instanceof ApiError && e.status === 404) {
          const fallback = await import('../builder/nodeSchemas.fallback.json');
          return fallback.default as unknown as NodeTypes;
        }
        throw e;
      }
    },
  });
}

export function usePatchChatbot() {
  const qc = useQueryClient();
  return useMutation({
    // ifMatch: the version (updatedAt) the edit was made on; the server refuses it (412) when saved since.
    mutationFn: (v: { id: string; body: Record<string, unknown>; ifMatch?: string }) =>
      unwrap(
        api.PATCH('/api/chatbots/{chatbot_id}', {
          params: { path: { chatbot_id: v.id }, header: v.ifMatch ? { 'If-Match': v.ifMatch } : undefined },
          body: v.body,
        }),
      ),
    onSuccess: (saved) => {
      qc.setQueryData<ChatbotSummary[]>(keys.chatbots, (list) =>
        list?.map((c) => (c.id === saved.id ? { ...c, name: saved.name, isActive: saved.isActive, status: saved.status, updatedAt: saved.updatedAt } : c)),
      );
      void qc.invalidateQueries({ queryKey: keys.chatbots });
    },
  });
}

export function downloadJson(filename: string, data: unknown) {
  const blob = new Blob([JSON.stringify(data, null, 2)], { type: 'application/json' });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function slug(name: string) {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'chatbot';
}

export type { Chatbot };
