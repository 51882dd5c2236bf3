import { QueryClient, QueryObserver } from '@tanstack/react-query';
import { describe, expect, it, vi } from 'vitest';
import type { ContextInfo, Conversation, ConversationDetail, Message } from '../api/client';
import { keys } from '../api/queries';
import {
  addMessage,
  displayOrder,
  messagePreview,
  hasUnread,
  quoteOf,
  matchesSearch,
  removeConversation,
  sortConversations,
  updateContext,
  updateStatus,
  upsertConversation,
  type ConversationPages,
  type MessagePages,
} from './cache';

const msg = (id: string, over: Partial<Message> = {}): Message =>
  ({
    id,
    conversationId: 'c1',
    senderId: 'u',
    type: 'text',
    content: { body: `m ${id}` },
    status: 'pending',
    timestamp: '2026-01-01T10:00:00Z',
    whatsappMessageId: null,
    error: null,
    direction: 'outbound',
    createdAt: '2026-01-01T10:00:00Z',
    updatedAt: '2026-01-01T10:00:00Z',
    ...over,
  }) as Message;

const conv = (id: string, at: string, over: Partial<Conversation> = {}): Conversation =>
  ({ id, lastMessage: 'x', lastMessageAt: at, isWindowOpen: true, isHandedOff: false, createdAt: at, updatedAt: at, ...over }) as Conversation;

function setup() {
  const qc = new QueryClient();
  qc.setQueryData<MessagePages>(keys.messages('c1'), { pages: [{ items: [msg('2'), msg('1')], nextCursor: 'x' }], pageParams: [null] });
  qc.setQueryData<ConversationPages>(keys.conversations, { pages: [{ items: [conv('c2', '2026-01-01T09:00:00Z'), conv('c1', '2026-01-01T08:00:00Z')], nextCursor: null }], pageParams: [null] });
  return qc;
}

describe('live updates of the cache', () => {
  it('drops a conversation that is gone from the lists and its messages', () => {
    const qc = setup();
    removeConversation(qc, 'c1');
    const ids = qc.getQueryData<ConversationPages>(keys.conversations)!.pages.flatMap((p) => p.items.map((c) => c.id));
    expect(ids).toEqual(['c2']);
    expect(qc.getQueryData(keys.messages('c1'))).toBeUndefined();
  });

  it('prepends a new message once, and moves its conversation preview', () => {
    const qc = setup();
    const m = msg('3', { timestamp: '2026-01-01T11:00:00Z', content: { body: 'newest' } });
    addMessage(qc, m);
    addMessage(qc, m);
    const pages = qc.getQueryData<MessagePages>(keys.messages('c1'))!;
    expect(pages.pages[0].items.map((x) => x.id)).toEqual(['3', '2', '1']);
    const list = sortConversations(qc.getQueryData<ConversationPages>(keys.conversations)!.pages[0].items);
    expect(list[0]).toMatchObject({ id: 'c1', lastMessage: 'newest' });
  });

  it('moves statuses forward only', () => {
    const qc = setup();
    updateStatus(qc, { id: '1', conversationId: 'c1', status: 'read' });
    updateStatus(qc, { id: '1', conversationId: 'c1', status: 'delivered' });
    const items = qc.getQueryData<MessagePages>(keys.messages('c1'))!.pages[0].items;
    expect(items.find((x) => x.id === '1')!.status).toBe('read');
    updateStatus(qc, { id: '2', conversationId: 'c1', status: 'failed', error: { code: 131047 } });
    expect(qc.getQueryData<MessagePages>(keys.messages('c1'))!.pages[0].items[0]).toMatchObject({ status: 'failed', error: { code: 131047 } });
    // as the server orders them: a late `delivered` does not undo the failure, a `read` does (and clears the error)
    updateStatus(qc, { id: '2', conversationId: 'c1', status: 'delivered' });
    expect(qc.getQueryData<MessagePages>(keys.messages('c1'))!.pages[0].items[0].status).toBe('failed');
    updateStatus(qc, { id: '2', conversationId: 'c1', status: 'read' });
    expect(qc.getQueryData<MessagePages>(keys.messages('c1'))!.pages[0].items[0]).toMatchObject({ status: 'read', error: null });
    // and a failure after a read is not shown (the server keeps the message read)
    updateStatus(qc, { id: '1', conversationId: 'c1', status: 'failed', error: { code: 131026 } });
    expect(qc.getQueryData<MessagePages>(keys.messages('c1'))!.pages[0].items.find((x) => x.id === '1')!.status).toBe('read');
  });

  it('keeps a status the socket brought when the send\'s own answer arrives later', () => {
    const qc = setup();
    const sent = msg('3', { timestamp: '2026-01-01T11:00:00Z' });
    addMessage(qc, sent); // message:created
    updateStatus(qc, { id: '3', conversationId: 'c1', status: 'read', whatsappMessageId: 'wamid.3' });
    addMessage(qc, sent); // the POST's 202, still `pending`
    const items = qc.getQueryData<MessagePages>(keys.messages('c1'))!.pages[0].items;
    expect(items.filter((x) => x.id === '3')).toHaveLength(1);
    expect(items[0]).toMatchObject({ id: '3', status: 'read', whatsappMessageId: 'wamid.3' });
  });

  it('upserts conversations and sorts newest first', () => {
    const qc = setup();
    upsertConversation(qc, conv('c1', '2026-01-01T12:00:00Z', { isHandedOff: true }));
    upsertConversation(qc, conv('c3', '2026-01-01T07:00:00Z'));
    const list = sortConversations(qc.getQueryData<ConversationPages>(keys.conversations)!.pages.flatMap((p) => p.items));
    expect(list.map((c) => c.id)).toEqual(['c1', 'c2', 'c3']);
    expect(list[0].isHandedOff).toBe(true);
  });

  it('lists a conversation without a message by when it was made, as the API does', () => {
    const list = sortConversations([
      conv('a', null as unknown as string, { createdAt: '2026-01-02T00:00:00Z', updatedAt: '2026-01-02T00:00:00Z' }),
      conv('b', '2026-01-01T07:00:00Z', { createdAt: '2025-12-01T00:00:00Z' }),
      conv('c', null as unknown as string, { createdAt: '2026-01-01T00:00:00Z' }),
      conv('d', '2026-01-01T07:00:00Z', { createdAt: '2025-12-01T00:00:00Z' }),
      conv('e', null as unknown as string, { createdAt: '2026-01-01T07:00:00Z' }),
    ]);
    // Made just now (a): first. Made at the time of others' last messages (e): among them, by id.
    expect(list.map((c) => c.id)).toEqual(['a', 'e', 'd', 'b', 'c']);
  });

  it('puts a conversation just made, heard of by conversation:updated, at the top of the list', () => {
    const qc = setup();
    upsertConversation(qc, conv('c9', null as unknown as string, { createdAt: '2026-01-01T11:00:00Z' }));
    const list = sortConversations(qc.getQueryData<ConversationPages>(keys.conversations)!.pages.flatMap((p) => p.items));
    expect(list.map((c) => c.id)).toEqual(['c9', 'c2', 'c1']);
  });

  it('keeps the newer copy when conversation:updated events arrive out of order', () => {
    const qc = setup();
    upsertConversation(qc, conv('c1', '2026-01-01T12:00:00Z', { unreadCount: 0, updatedAt: '2026-01-01T12:00:00.5Z' }));
    upsertConversation(qc, conv('c1', '2026-01-01T12:00:00Z', { unreadCount: 1, updatedAt: '2026-01-01T12:00:00.25Z' }));
    const held = qc.getQueryData<ConversationPages>(keys.conversations)!.pages[0].items.find((c) => c.id === 'c1');
    expect(held?.unreadCount).toBe(0);
  });

  it('keeps the unread and handed-off lists to what they name as conversations change', () => {
    const qc = setup();
    const empty = { pages: [{ items: [] as Conversation[], nextCursor: null }], pageParams: [null] };
    qc.setQueryData<ConversationPages>(keys.conversationList('', 'unread'), empty);
    qc.setQueryData<ConversationPages>(keys.conversationList('', 'handedOff'), empty);
    const ids = (f: 'unread' | 'handedOff') =>
      qc.getQueryData<ConversationPages>(keys.conversationList('', f))!.pages[0].items.map((c) => c.id);
    upsertConversation(qc, conv('c6', '2026-01-01T12:00:00Z', { unreadCount: 1, updatedAt: '2026-01-01T12:00:01Z' }));
    upsertConversation(qc, conv('c7', '2026-01-01T12:00:00Z', { isHandedOff: true, updatedAt: '2026-01-01T12:00:01Z' }));
    expect(ids('unread')).toEqual(['c6']);
    expect(ids('handedOff')).toEqual(['c7']);
    // read by an operator, handed back: out of those lists (still in the full one)
    upsertConversation(qc, conv('c6', '2026-01-01T12:00:00Z', { unreadCount: 0, updatedAt: '2026-01-01T12:00:02Z' }));
    upsertConversation(qc, conv('c7', '2026-01-01T12:00:00Z', { isHandedOff: false, updatedAt: '2026-01-01T12:00:02Z' }));
    expect(ids('unread')).toEqual([]);
    expect(ids('handedOff')).toEqual([]);
    expect(qc.getQueryData<ConversationPages>(keys.conversations)!.pages[0].items.map((c) => c.id)).toContain('c6');
    // an older copy arriving late changes nothing
    upsertConversation(qc, conv('c7', '2026-01-01T12:00:00Z', { isHandedOff: true, updatedAt: '2026-01-01T12:00:01Z' }));
    expect(ids('handedOff')).toEqual([]);
  });

  it('updates searched lists too, adding only conversations that match the search', () => {
    const qc = setup();
    const empty = { pages: [{ items: [] as Conversation[], nextCursor: null }], pageParams: [null] };
    qc.setQueryData<ConversationPages>(keys.conversationList('ana'), empty);
    qc.setQueryData<ConversationPages>(keys.conversationList('5511'), empty);
    upsertConversation(qc, conv('c4', '2026-01-01T12:00:00Z', { customerName: 'Ana Souza', customerPhone: '+55 11 9999', unreadCount: 2 }));
    upsertConversation(qc, conv('c5', '2026-01-01T12:00:00Z', { customerName: 'Bruno', customerPhone: '+1 555' }));
    const ids = (q: string) => qc.getQueryData<ConversationPages>(keys.conversationList(q))!.pages[0].items.map((c) => c.id);
    expect(ids('ana')).toEqual(['c4']);
    expect(ids('5511')).toEqual(['c4']);
    expect(qc.getQueryData<ConversationPages>(keys.conversations)!.pages[0].items.map((c) => c.id)).toEqual(['c5', 'c4', 'c2', 'c1']);
    expect(matchesSearch({ customerName: null, customerPhone: '+5511999' }, '119')).toBe(true);
    // written as people write numbers: matched by the digits, as the server does (3 at least)
    expect(matchesSearch({ customerName: null, customerPhone: '+15559990077' }, '555-999-00')).toBe(true);
    expect(matchesSearch({ customerName: null, customerPhone: '+15559990077' }, '(555) 999')).toBe(true);
    expect(matchesSearch({ customerName: null, customerPhone: '+15559990077' }, '+1 555')).toBe(true);
    expect(matchesSearch({ customerName: null, customerPhone: '+15559990077' }, '5-5')).toBe(false);
    expect(matchesSearch({ customerName: 'Ana', customerPhone: '+15559990077' }, 'ana 555')).toBe(false);
    expect(hasUnread(qc, 'c4')).toBe(true);
    expect(hasUnread(qc, 'c5')).toBe(false);
  });
});

describe('removeConversation', () => {
  it('keeps a removed conversation out, also when a copy fetched before arrives after', () => {
    const qc = new QueryClient();
    qc.setQueryData<ConversationPages>(keys.conversations, { pages: [{ items: [conv('c2', '2026-01-01T09:00:00Z'), conv('c1', '2026-01-01T08:00:00Z')], nextCursor: null }], pageParams: [null] });
    removeConversation(qc, 'c2');
    upsertConversation(qc, conv('c2', '2026-01-01T09:00:01Z')); // the late copy
    expect(qc.getQueryData<ConversationPages>(keys.conversations)!.pages[0].items.map((c) => c.id)).toEqual(['c1']);
  });
});

describe('updateContext', () => {
  const ctx = { id: 'k1', conversationId: 'c1', chatbotId: 'b1', currentNodeId: 'menu', variables: {}, nodeHistory: ['start', 'menu'],
    isActive: true, endedReason: null, createdAt: '2026-01-01T10:00:00Z', updatedAt: '2026-01-01T10:00:00Z' } as ContextInfo;

  it('patches the panel with the path and time of the same context', () => {
    const qc = new QueryClient();
    qc.setQueryData(keys.context('c1'), ctx);
    updateContext(qc, { conversationId: 'c1', chatbotId: 'b1', contextId: 'k1', currentNodeId: 'size',
      nodeHistory: ['start', 'menu', 'size'], updatedAt: '2026-01-01T10:01:00Z' });
    const now = qc.getQueryData<ContextInfo>(keys.context('c1'));
    expect(now?.nodeHistory).toEqual(['start', 'menu', 'size']);
    expect(now?.updatedAt).toBe('2026-01-01T10:01:00Z');
    expect(now?.id).toBe('k1');
    expect(now?.createdAt).toBe(ctx.createdAt);
    expect(now && 'contextId' in now).toBe(false);
  });

  it('refetches when another context of the same bot started', () => {
    const qc = new QueryClient();
    qc.setQueryData(keys.context('c1'), ctx);
    updateContext(qc, { conversationId: 'c1', chatbotId: 'b1', contextId: 'k2', currentNodeId: 'start' });
    expect(qc.getQueryState(keys.context('c1'))?.isInvalidated).toBe(true);
    expect(qc.getQueryData<ContextInfo>(keys.context('c1'))?.currentNodeId).toBe('menu');
  });

  it('marks an open conversation where no bot had run as having one, so that its context is asked for', () => {
    const qc = new QueryClient();
    qc.setQueryData(keys.conversation('c1'), { id: 'c1', hasBotContext: false } as ConversationDetail);
    updateContext(qc, { conversationId: 'c1', chatbotId: 'b1', contextId: 'k1', currentNodeId: 'start' });
    expect(qc.getQueryData<ConversationDetail>(keys.conversation('c1'))?.hasBotContext).toBe(true);
    updateContext(qc, { conversationId: 'c2', chatbotId: 'b1', contextId: 'k9', currentNodeId: 'start' });
    expect(qc.getQueryData(keys.conversation('c2'))).toBeUndefined(); // not loaded: nothing made up
  });

  it('asks again for a conversation being opened when its bot starts meanwhile (the answer may predate the bot)', async () => {
    const qc = new QueryClient();
    const answers: Array<(d: ConversationDetail) => void> = [];
    const observer = new QueryObserver<ConversationDetail>(qc, {
      queryKey: keys.conversation('c1'),
      queryFn: () => new Promise<ConversationDetail>((resolve) => answers.push(resolve)),
    });
    const stop = observer.subscribe(() => {});
    await vi.waitFor(() => expect(answers).toHaveLength(1));
    updateContext(qc, { conversationId: 'c1', chatbotId: 'b1', contextId: 'k1', currentNodeId: 'start' });
    await vi.waitFor(() => expect(answers).toHaveLength(2));
    answers[0]({ id: 'c1', hasBotContext: false } as ConversationDetail); // the first, cancelled, answer
    answers[1]({ id: 'c1', hasBotContext: true } as ConversationDetail);
    await vi.waitFor(() => expect(qc.getQueryData<ConversationDetail>(keys.conversation('c1'))?.hasBotContext).toBe(true));
    stop();
  });
});

describe('displayOrder', () => {
  it('puts a quick answer after the bot message it answers, though WhatsApp gave it the same whole second', () => {
    const hi = msg('m1', { timestamp: '2026-12-06T02:28:54Z', createdAt: '2026-12-06T02:28:54.010000Z' });
    const welcome = msg('m2', { timestamp: '2026-12-06T02:28:54.886722Z', createdAt: '2026-12-06T02:28:54.886000Z' });
    const menu = msg('m3', { timestamp: '2026-12-06T02:28:54.886723Z', createdAt: '2026-12-06T02:28:54.886000Z' });
    const tap = msg('m4', { timestamp: '2026-12-06T02:28:54Z', createdAt: '2026-12-06T02:28:55.300000Z' });
    const late = msg('m0', { timestamp: '2026-12-05T10:00:00Z', createdAt: '2026-12-06T02:29:00Z' });
    // The API lists newest first by timestamp: tap and hi (…54Z) below the replies (…54.886Z).
    const apiOrder = [menu, welcome, tap, hi, late].reverse();
    expect(displayOrder(apiOrder).map((m) => m.id)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
  });
});

describe('messagePreview', () => {
  it('previews as the server does: text, caption, title, emoji, a named template or location, else the kind', () => {
    expect(messagePreview({ type: 'text', content: { body: 'hi' } })).toBe('hi');
    expect(messagePreview({ type: 'image', content: { url: 'https://x.test/a.jpg', caption: 'A cat' } })).toBe('A cat');
    expect(messagePreview({ type: 'template', content: { name: 'order_update', language: 'en_US' } })).toBe('[template: order_update]');
    expect(messagePreview({ type: 'location', content: { latitude: 1, longitude: 2 } })).toBe('[location]');
    expect(messagePreview({ type: 'sticker', content: null })).toBe('[sticker]');
  });
});

describe('quoteOf', () => {
  const menu: Pick<Message, 'type' | 'content'> = { type: 'interactive', content: { kind: 'buttons', body: 'What would you like to do?' } };
  const known = new Map([['wamid.MENU', menu]]);
  it("shows what a tap, a reply or a reaction answers, by WhatsApp's message id", () => {
    expect(quoteOf({ type: 'interactive', content: { buttonId: 'order', title: 'Order', replyTo: 'wamid.MENU' } }, known)).toBe(
      'What would you like to do?',
    );
    expect(quoteOf({ type: 'reaction', content: { messageId: 'wamid.MENU', emoji: '👍' } }, known)).toBe('What would you like to do?');
    expect(quoteOf({ type: 'system', content: { kind: 'revoke', originalMessageId: 'wamid.MENU' } }, known)).toBe('What would you like to do?');
    // An operator's reaction names our id of the message (the inbox's map holds both ids).
    const both = new Map([...known, ['0193-our-id', menu]]);
    expect(quoteOf({ type: 'reaction', content: { messageId: '0193-our-id', emoji: '👍' } }, both)).toBe('What would you like to do?');
  });
  it('says so when the quoted message is not loaded, and nothing when none is quoted', () => {
    expect(quoteOf({ type: 'text', content: { body: 'yes', replyTo: 'wamid.OLD' } }, known)).toBe('An earlier message');
    expect(quoteOf({ type: 'text', content: { body: 'hi' } }, known)).toBeNull();
    expect(quoteOf({ type: 'text', content: null }, known)).toBeNull();
    expect(quoteOf({ type: 'reaction', content: { emoji: '👍', replyTo: 'wamid.MENU' } }, known)).toBeNull();
  });
});
