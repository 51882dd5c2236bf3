// Applying live events to the TanStack Query cache.
import type { InfiniteData, QueryClient } from '@tanstack/react-query';
import type { ContextInfo, Conversation, ConversationDetail, Message } from '../api/client';
import { keys, type ListFilter } from '../api/queries';

export type MessagePages = InfiniteData<{ items: Message[]; nextCursor: string | null }, string | null>;
export type ConversationPages = InfiniteData<{ items: Conversation[]; nextCursor: string | null }, string | null>;

export function addMessage(qc: QueryClient, m: Message) {
  qc.setQueryData<MessagePages>(keys.messages(m.conversationId), (data) => {
    if (!data) return data;
    if (data.pages.some((p) => p.items.some((x) => x.id === m.id))) {
      // A late copy (the send's own HTTP answer, after the socket's statuses) must not undo a status reached.
      return mapMessages(data, m.id, (known) =>
        moves(known.status, m.status)
          ? m
          : { ...m, status: known.status, whatsappMessageId: m.whatsappMessageId ?? known.whatsappMessageId, error: m.error ?? known.error },
      );
    }
    const [first, ...rest] = data.pages;
    return { ...data, pages: [{ ...first, items: [m, ...first.items] }, ...rest] };
  });
  touchConversation(qc, m);
}

/** The list's preview of a message, as the server writes it (message_preview in the migrations). */
export function messagePreview(m: Pick<Message, 'type' | 'content'>): string {
  const c = (m.content && typeof m.content === 'object' ? m.content : {}) as Record<string, unknown>;
  for (const key of ['body', 'caption', 'title', 'emoji']) if (typeof c[key] === 'string' && c[key]) return (c[key] as string).slice(0, 1000);
  if ((m.type === 'template' || m.type === 'location') && typeof c.name === 'string' && c.name) return `[${m.type}: ${c.name}]`.slice(0, 1000);
  return `[${m.type}]`;
}

/** What a message replies or reacts to (WhatsApp's `context.id`, a reaction's message, the message a customer
 * deleted or edited), as the inbox shows it
 * above the message: that message's preview, "An earlier message" when it is not loaded, null for none. */
export function quoteOf(m: Pick<Message, 'type' | 'content'>, byWhatsAppId: ReadonlyMap<string, Pick<Message, 'type' | 'content'>>): string | null {
  const c = (m.content && typeof m.content === 'object' ? m.content : {}) as Record<string, unknown>;
  const ref = m.type === 'reaction' ? c.messageId : m.type === 'system' ? c.originalMessageId : c.replyTo;
  if (typeof ref !== 'string' || !ref) return null;
  const found = byWhatsAppId.get(ref);
  return found ? messagePreview(found) : 'An earlier message';
}

/** A new message moves its conversation's preview (the server's conversation:updated may come later, or not). */
function touchConversation(qc: QueryClient, m: Message) {
  qc.setQueriesData<ConversationPages>({ queryKey: keys.conversations }, (data) => {
    if (!data) return data;
    return {
      ...data,
      pages: data.pages.map((p) => ({
        ...p,
        items: p.items.map((c) => {
          if (c.id !== m.conversationId) return c;
          if (c.lastMessageAt && new Date(c.lastMessageAt).getTime() > new Date(m.timestamp).getTime()) return c;
          return { ...c, lastMessageAt: m.timestamp, lastMessage: messagePreview(m) };
        }),
      })),
    };
  });
}

export interface StatusEvent {
  id: string;
  conversationId: string;
  status: Message['status'];
  whatsappMessageId?: string | null;
  error?: Record<string, unknown> | null;
}

// The server's order (whatsapp/statuses.py): a message read after a failure was delivered after all, so `read`
// follows `failed`, and the server sends it then. Ranked the other way here, that `read` was dropped and the
// message showed as failed until a reload.
const ORDER: Record<string, number> = { pending: 0, sent: 1, delivered: 2, failed: 3, read: 4, played: 5 };

/** Whether a message at status `from` may show `to`: statuses only move forward, in the server's order. */
function moves(from: Message['status'], to: Message['status']): boolean {
  return (ORDER[to] ?? 0) >= (ORDER[from] ?? 0);
}

export function updateStatus(qc: QueryClient, e: StatusEvent) {
  qc.setQueryData<MessagePages>(keys.messages(e.conversationId), (data) =>
    data
      ? mapMessages(data, e.id, (m) =>
          // an event may overtake the message's own fetch
          moves(m.status, e.status)
            ? {
                ...m,
                status: e.status,
                whatsappMessageId: e.whatsappMessageId ?? m.whatsappMessageId,
                // only a failure has an error (a read after one clears it, as on the server)
                error: e.status === 'failed' ? (e.error ?? m.error) : null,
              }
            : m,
        )
      : data,
  );
}

function mapMessages(data: MessagePages, id: string, f: (m: Message) => Message): MessagePages {
  return { ...data, pages: data.pages.map((p) => ({ ...p, items: p.items.map((m) => (m.id === id ? f(m) : m)) })) };
}

/** The search of a conversation list's query key (`['conversations', q]`; '' or none for all). */
function listSearch(key: readonly unknown[]): string {
  return typeof key[1] === 'string' ? key[1].trim().toLowerCase() : '';
}

/** The filter of a conversation list's query key (`['conversations', q, filter]`). */
function listFilter(key: readonly unknown[]): ListFilter {
  return key[2] === 'unread' || key[2] === 'handedOff' ? key[2] : 'all';
}

/** Mirrors the server's `?unread=true` and `?handedOff=true`. */
export function matchesFilter(c: Pick<Conversation, 'unreadCount' | 'isHandedOff'>, filter: ListFilter): boolean {
  if (filter === 'unread') return (c.unreadCount ?? 0) > 0;
  if (filter === 'handedOff') return !!c.isHandedOff;
  return true;
}

/** Mirrors the server's `?q=` (conversations/service.py: name or phone contains it; a number as people write it,
 * "+1 (555) 010-0002", by its digits) for conversations that arrive live. */
export function matchesSearch(c: Pick<Conversation, 'customerName' | 'customerPhone'>, q: string): boolean {
  if (!q) return true;
  const name = (c.customerName ?? '').toLowerCase();
  const phone = c.customerPhone ?? '';
  if (name.includes(q) || phone.includes(q)) return true;
  const digits = q.replace(/\D/g, '');
  return /^[+\d\s().-]+$/.test(q) && digits.length >= 3 && phone.replace(/\D/g, '').includes(digits);
}

/** Whether `held` is a newer state of the conversation than `incoming` (events of different server stages or
 * processes can arrive out of order; times are compared parsed, since the fraction's digits vary). */
function newer(held: { updatedAt?: string | null } | undefined, incoming: { updatedAt?: string | null }): boolean {
  if (!held?.updatedAt || !incoming.updatedAt) return false;
  return new Date(held.updatedAt).getTime() > new Date(incoming.updatedAt).getTime();
}

// Conversations removed (deleted, or merged into another) per cache: a copy fetched before the removal and
// answered after it (the unread count's refresh, a late event) must not bring one back into the list.
const goneByCache = new WeakMap<QueryClient, Set<string>>();
const gone = (qc: QueryClient) => {
  let ids = goneByCache.get(qc);
  if (!ids) goneByCache.set(qc, (ids = new Set()));
  return ids;
};

export function upsertConversation(qc: QueryClient, c: Conversation) {
  if (gone(qc).has(c.id)) return;
  // A copy older than one held anywhere is stale: it must not put the conversation back into a list of unread
  // (or handed-off) ones that the newer copy took it out of.
  const lists = qc.getQueriesData<ConversationPages>({ queryKey: keys.conversations });
  const held = lists.flatMap(([, d]) => d?.pages.flatMap((p) => p.items.filter((x) => x.id === c.id)) ?? []);
  if ([...held, qc.getQueryData<ConversationDetail>(keys.conversation(c.id))].some((x) => newer(x, c))) return;
  for (const [key, data] of lists) {
    if (!data) continue;
    let found = false;
    const filter = listFilter(key);
    const pages = data.pages.map((p) => ({
      ...p,
      items: p.items.flatMap((x) => {
        if (x.id !== c.id) return [x];
        found = true;
        if (newer(x, c)) return [x];
        const merged = { ...x, ...c };
        // read, or handed back: out of a list of unread (or handed-off) ones, as the server would list it
        return matchesFilter(merged, filter) ? [merged] : [];
      }),
    }));
    if (
      !found &&
      pages.length &&
      matchesFilter(c, filter) &&
      matchesSearch({ customerName: c.customerName, customerPhone: c.customerPhone }, listSearch(key))
    )
      pages[0] = { ...pages[0], items: [c, ...pages[0].items] };
    qc.setQueryData<ConversationPages>(key, { ...data, pages });
  }
  qc.setQueryData<ConversationDetail>(keys.conversation(c.id), (d) => (d && !newer(d, c) ? { ...d, ...c } : d));
}

/** A conversation that is gone (deleted, or merged into another): out of every list, its own data dropped. */
export function removeConversation(qc: QueryClient, id: string) {
  gone(qc).add(id);
  qc.setQueriesData<ConversationPages>({ queryKey: keys.conversations }, (data) =>
    data ? { ...data, pages: data.pages.map((p) => ({ ...p, items: p.items.filter((c) => c.id !== id) })) } : data,
  );
  for (const key of [keys.conversation(id), keys.messages(id), keys.context(id)]) qc.removeQueries({ queryKey: key, exact: true });
}

export function updateContext(
  qc: QueryClient,
  e: Partial<ContextInfo> & { conversationId: string; contextId?: string },
) {
  const prev = qc.getQueryData<ContextInfo | null>(keys.context(e.conversationId));
  // A bot runs here now: the open conversation asks for its context from now on (it does not before, when the
  // server said none ever ran: that question's answer is a 404, an error in the browser's console).
  qc.setQueryData<ConversationDetail>(keys.conversation(e.conversationId), (d) => (d && !d.hasBotContext ? { ...d, hasBotContext: true } : d));
  // Opened but not loaded yet: the answer on its way may have been read before the bot started. Ask again.
  const opening = qc.getQueryState(keys.conversation(e.conversationId));
  if (opening && opening.data === undefined && opening.fetchStatus === 'fetching') {
    // (an invalidation alone would join the fetch in flight: a first load is never cancelled for a refetch)
    const key = { queryKey: keys.conversation(e.conversationId), exact: true };
    void qc.cancelQueries(key).then(() => qc.invalidateQueries(key));
  }
  const { contextId, ...fields } = e;
  // Another context (a restart, another bot) has its own createdAt: fetch it rather than patch the old one.
  if (prev && prev.chatbotId === e.chatbotId && (contextId === undefined || contextId === prev.id)) {
    qc.setQueryData(keys.context(e.conversationId), { ...prev, ...fields });
  } else void qc.invalidateQueries({ queryKey: keys.context(e.conversationId) });
}

/** As `GET /api/conversations` lists them: newest activity first, by `lastMessageAt`, or `createdAt` for a
 * conversation without a message yet (one just opened to write first is at the top, not under every other), ties
 * by id (descending). */
export function sortConversations(list: Conversation[]): Conversation[] {
  const t = (c: Conversation) => Date.parse(c.lastMessageAt ?? c.createdAt);
  const seen = new Set<string>();
  return list
    .filter((c) => (seen.has(c.id) ? false : (seen.add(c.id), true)))
    .sort((a, b) => t(b) - t(a) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
}

/** Whether a list shows unread messages for this conversation (a `read` status may have cleared them). */
export function hasUnread(qc: QueryClient, conversationId: string): boolean {
  return qc
    .getQueriesData<ConversationPages>({ queryKey: keys.conversations })
    .some(([, d]) => d?.pages.some((p) => p.items.some((c) => c.id === conversationId && (c.unreadCount ?? 0) > 0)));
}

/**
 * The conversation's messages oldest first, as shown. WhatsApp's `timestamp` of a customer's message has whole
 * seconds, our replies' have microseconds: a customer who answers within the same second (a quick tap on a button)
 * would list above the bot message they answered. So within one second, messages go by when the server stored
 * them (`createdAt`); across seconds, by `timestamp`, as the API lists them.
 */
export function displayOrder(messages: Message[]): Message[] {
  const second = (m: Message) => Math.floor(Date.parse(m.timestamp) / 1000);
  const stored = (m: Message) => Date.parse(m.createdAt);
  return [...messages].sort((a, b) => second(a) - second(b) || stored(a) - stored(b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
