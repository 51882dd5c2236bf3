// The Socket.IO connection: one per signed-in tab; its events update the query cache.
import { useQueryClient } from '@tanstack/react-query';
import { createContext, useContext, useEffect, useState, type ReactNode } from 'react';
import { io, type Socket } from 'socket.io-client';
import { api, ApiError, unwrap, type Conversation, type Message } from '../api/client';
import { keys } from '../api/queries';
import { getToken } from '../auth/token';
import { addMessage, hasUnread, removeConversation, updateContext, updateStatus, upsertConversation, type StatusEvent } from './cache';

/** A conversation is gone: `mergedInto` names the one that now holds its messages (the same customer). */
export interface ConversationDeleted {
  id: string;
  mergedInto: string | null;
}

/** The window event the open conversation's page listens to, to move on when its conversation is gone. */
export const CONVERSATION_DELETED = 'wab:conversation-deleted';

interface Realtime {
  socket: Socket | null;
  connected: boolean;
}

const RealtimeContext = createContext<Realtime>({ socket: null, connected: false });

export function RealtimeProvider({ children }: { children: ReactNode }) {
  const qc = useQueryClient();
  const [state, setState] = useState<Realtime>({ socket: null, connected: false });

  useEffect(() => {
    const token = getToken();
    if (!token) return;
    // auth as a function: a reconnect sends the token the tab holds then
    const socket = io(window.location.origin, { path: '/socket.io', auth: (cb) => cb({ token: getToken() ?? token }), transports: ['websocket', 'polling'] });
    let everConnected = false;
    let closed = false;
    let recheck: ReturnType<typeof setTimeout> | undefined;
    socket.on('connect', () => {
      if (everConnected) {
        // missed events while away: refetch lists and open conversations' newest pages
        void qc.invalidateQueries({ queryKey: keys.conversations });
        void qc.invalidateQueries({ queryKey: ['conversation'] }); // an open one, also one that failed to load meanwhile
        void qc.invalidateQueries({ queryKey: ['messages'] });
        void qc.invalidateQueries({ queryKey: ['context'] });
      }
      everConnected = true;
      setState({ socket, connected: true });
    });
    socket.on('disconnect', (reason) => {
      setState({ socket, connected: false });
      // The server closed it (socket.io does not reconnect then): it does so when the token is revoked. Ask the
      // API, whose 401 signs this tab out with the reason; if the token is still good, connect again.
      if (reason !== 'io server disconnect') return; // socket.io reconnects by itself
      const ask = (wait: number) => {
        recheck = setTimeout(() => {
          unwrap(api.GET('/api/tokens', { params: { query: { limit: 1 } } }))
            .then(() => {
              if (!closed) socket.connect();
            })
            .catch((e) => {
              // 401: the token is revoked and the API client has signed the tab out; anything else, ask again
              if (!closed && !(e instanceof ApiError && e.status === 401)) ask(Math.min(wait * 2 || 1000, 30_000));
            });
        }, wait);
      };
      ask(0);
    });
    socket.on('message:created', (m: Message) => addMessage(qc, m));
    // Read receipts for the customer's messages come as `read` statuses after the conversation's last update:
    // refresh the unread count of a conversation that shows one (once per burst of statuses).
    const unreadTimers = new Map<string, ReturnType<typeof setTimeout>>();
    const refreshUnread = (conversationId: string) => {
      if (unreadTimers.has(conversationId) || !hasUnread(qc, conversationId)) return;
      unreadTimers.set(
        conversationId,
        setTimeout(() => {
          unreadTimers.delete(conversationId);
          unwrap(api.GET('/api/conversations/{conversation_id}', { params: { path: { conversation_id: conversationId } } }))
            .then(({ participants: _participants, ...c }) => upsertConversation(qc, c))
            .catch(() => {});
        }, 300),
      );
    };
    socket.on('message:status', (e: StatusEvent) => {
      updateStatus(qc, e);
      if (e.status === 'read') refreshUnread(e.conversationId);
    });
    socket.on('conversation:updated', (c: Conversation) => upsertConversation(qc, c));
    socket.on('context:updated', (e: { conversationId: string; chatbotId: string; contextId?: string }) => updateContext(qc, e));
    socket.on('conversation:deleted', (e: ConversationDeleted) => {
      removeConversation(qc, e.id);
      if (e.mergedInto) {
        // the merged conversation's messages and bot context moved there, without events of their own
        for (const key of [keys.conversation(e.mergedInto), keys.messages(e.mergedInto), keys.context(e.mergedInto)])
          void qc.invalidateQueries({ queryKey: key });
      }
      window.dispatchEvent(new CustomEvent<ConversationDeleted>(CONVERSATION_DELETED, { detail: e }));
    });
    setState({ socket, connected: false });
    return () => {
      closed = true;
      clearTimeout(recheck);
      unreadTimers.forEach((t) => clearTimeout(t));
      socket.removeAllListeners();
      socket.disconnect();
    };
  }, [qc]);

  return <RealtimeContext.Provider value={state}>{children}</RealtimeContext.Provider>;
}

export const useRealtime = () => useContext(RealtimeContext);
export const useRealtimeStatus = () => useContext(RealtimeContext).connected;

/** Joins the conversation's room while mounted (and again after each reconnect). */
export function useConversationRoom(conversationId: string | undefined) {
  const { socket, connected } = useRealtime();
  useEffect(() => {
    if (!socket || !connected || !conversationId) return;
    socket.emit('conversation:join', { conversationId });
    return () => {
      socket.emit('conversation:leave', { conversationId });
    };
  }, [socket, connected, conversationId]);
}
