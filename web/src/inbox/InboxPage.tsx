import {
  ActionIcon,
  Alert,
  Badge,
  Box,
  Button,
  Center,
  Code,
  Group,
  Loader,
  Menu,
  Modal,
  SegmentedControl,
  Select,
  Skeleton,
  Stack,
  TagsInput,
  Text,
  Textarea,
  TextInput,
  Title,
  UnstyledButton,
} from '@mantine/core';
import { useMediaQuery } from '@mantine/hooks';
import { notifications } from '@mantine/notifications';
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useVirtualizer } from '@tanstack/react-virtual';
import { useEffect, useLayoutEffect, useMemo, useRef, useState, type Ref } from 'react';
import { Link, useNavigate, useParams } from 'react-router-dom';
import { api, ApiError, errorMessage, fieldErrors, unwrap, type ContextInfo, type Conversation, type Message } from '../api/client';
import { keys, useWhatsAppConfig, type ListFilter } from '../api/queries';
import bubbles from '../components/bubble.module.css';
import { MessageBubble, type Status } from '../components/MessageBubble';
import { relativeTime } from '../components/time';
import { VariablesTable } from '../builder/TestPanel';
import { addMessage, displayOrder, quoteOf, sortConversations, upsertConversation, type ConversationPages } from './cache';
import { CONVERSATION_DELETED, useConversationRoom, type ConversationDeleted } from './realtime';

export function InboxPage() {
  const { conversationId } = useParams();
  const narrow = useMediaQuery('(max-width: 48em)');
  // Below 75em (1200 px) the list gives the open conversation's header room for its name and buttons.
  const roomy = useMediaQuery('(min-width: 75em)');
  const navigate = useNavigate();
  useEffect(() => {
    // The open conversation is gone: follow it where it was merged (the same customer), else back to the list.
    const onDeleted = (e: Event) => {
      const { id, mergedInto } = (e as CustomEvent<ConversationDeleted>).detail;
      if (id !== conversationId) return;
      notifications.show({
        message: mergedInto ? 'This conversation was merged into the customer\'s other one.' : 'This conversation was deleted.',
      });
      navigate(mergedInto ? `/inbox/${mergedInto}` : '/inbox', { replace: true });
    };
    window.addEventListener(CONVERSATION_DELETED, onDeleted);
    return () => window.removeEventListener(CONVERSATION_DELETED, onDeleted);
  }, [conversationId, navigate]);
  const showList = !narrow || !conversationId;
  const showConversation = !narrow || !!conversationId;
  return (
    <Box style={{ display: 'flex', height: 'calc(100dvh - var(--app-shell-header-height, 56px))' }}>
      {showList && (
        <Box w={narrow ? '100%' : roomy ? 340 : 290} style={{ borderRight: '1px solid var(--mantine-color-gray-3)', display: 'flex', flexDirection: 'column' }}>
          <ConversationList selected={conversationId} />
        </Box>
      )}
      {showConversation && (
        <Box style={{ flex: 1, minWidth: 0, display: 'flex' }}>
          {conversationId ? (
            <ConversationView key={conversationId} id={conversationId} narrow={!!narrow} />
          ) : (
            <Center style={{ flex: 1 }}>
              <Text c="dimmed">Select a conversation</Text>
            </Center>
          )}
        </Box>
      )}
    </Box>
  );
}

export function displayName(c: Pick<Conversation, 'customerName' | 'customerPhone'>) {
  return { name: c.customerName || c.customerPhone || 'Unknown customer', phone: c.customerPhone ?? '' };
}

/** The value after `ms` without changes. */
function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}

function ConversationList({ selected }: { selected?: string }) {
  const connected = useWhatsAppConfig().data?.phoneNumberId;
  const [search, setSearch] = useState('');
  const [starting, setStarting] = useState(false);
  const q = useDebounced(search.trim(), 300);
  const [filter, setFilter] = useState<ListFilter>('all');
  const query = useInfiniteQuery({
    queryKey: keys.conversationList(q, filter),
    initialPageParam: null as string | null,
    queryFn: ({ pageParam, signal }) =>
      unwrap(
        api.GET('/api/conversations', {
          params: {
            query: {
              limit: 50,
              cursor: pageParam ?? undefined,
              q: q || undefined,
              unread: filter === 'unread' || undefined,
              handedOff: filter === 'handedOff' || undefined,
            },
          },
          signal,
        }),
      ),
    getNextPageParam: (last) => last.nextCursor ?? undefined,
    placeholderData: (prev) => prev,
  });
  const all = useMemo(() => sortConversations(query.data?.pages.flatMap((p) => p.items) ?? []), [query.data]);
  const searching = search.trim() !== q || (query.isFetching && query.isPlaceholderData);

  const parent = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({ count: all.length, getScrollElement: () => parent.current, estimateSize: () => 72, overscan: 8 });
  const items = virtualizer.getVirtualItems();
  const lastIndex = items.at(-1)?.index ?? 0;
  useEffect(() => {
    if (lastIndex >= all.length - 5 && query.hasNextPage && !query.isFetchingNextPage && !query.isPlaceholderData) void query.fetchNextPage();
  }, [lastIndex, all.length, query]);

  return (
    <>
      <Box p="sm" style={{ borderBottom: '1px solid var(--mantine-color-gray-3)' }}>
        <Group justify="space-between" mb="xs">
          <Title order={1} size="h4">
            Inbox
          </Title>
          <Button size="compact-sm" variant="light" onClick={() => setStarting(true)}>
            New conversation
          </Button>
        </Group>
        <NewConversationModal opened={starting} onClose={() => setStarting(false)} />
        <TextInput
          placeholder="Search by name or phone"
          aria-label="Search conversations"
          type="search"
          value={search}
          onChange={(e) => setSearch(e.currentTarget.value)}
          rightSection={searching ? <Loader size="xs" aria-label="Searching" /> : null}
        />
        <SegmentedControl
          mt="xs"
          size="xs"
          fullWidth
          aria-label="Show"
          value={filter}
          onChange={(v) => setFilter(v as ListFilter)}
          data={[
            { label: 'All', value: 'all' },
            { label: 'Unread', value: 'unread' },
            { label: 'Handed off', value: 'handedOff' },
          ]}
        />
      </Box>
      {query.isPending && (
        <Stack p="sm">
          <Skeleton h={56} />
          <Skeleton h={56} />
        </Stack>
      )}
      {query.isError && (
        <Alert color="red" m="sm" title="Could not load the conversations">
          {errorMessage(query.error)}
        </Alert>
      )}
      {query.data && all.length === 0 && !searching && (
        <Text c="dimmed" size="sm" p="md" ta="center">
          {q
            ? 'No conversation matches.'
            : filter === 'unread'
              ? 'Nothing unread: every customer message has been read.'
              : filter === 'handedOff'
                ? 'No conversation is handed to a person.'
                : 'No conversations yet. Messages from customers appear here live.'}
        </Text>
      )}
      <div ref={parent} style={{ flex: 1, overflow: 'auto' }} role="list" aria-label="Conversations" aria-busy={searching || undefined} data-testid="conversation-list">
        <div style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
          {items.map((v) => {
            const c = all[v.index];
            const { name, phone } = displayName(c);
            const unread = c.unreadCount ?? 0;
            return (
              <UnstyledButton
                key={c.id}
                component={Link}
                to={`/inbox/${c.id}`}
                role="listitem"
                data-testid="conversation-item"
                aria-current={c.id === selected ? 'page' : undefined}
                aria-label={unread ? `${name}, ${unread} unread` : undefined}
                style={{
                  position: 'absolute',
                  top: 0,
                  left: 0,
                  width: '100%',
                  height: v.size,
                  transform: `translateY(${v.start}px)`,
                  padding: '8px 12px',
                  borderBottom: '1px solid var(--mantine-color-gray-2)',
                  background: c.id === selected ? 'var(--mantine-color-teal-0)' : undefined,
                }}
              >
                <Group justify="space-between" wrap="nowrap" gap="xs">
                  <Text fw={unread ? 800 : 600} size="sm" truncate dir="auto">
                    {name}
                  </Text>
                  <Text size="xs" c={unread ? 'teal.8' : 'dimmed'} fw={unread ? 700 : undefined} style={{ flexShrink: 0 }}>
                    {c.lastMessageAt ? relativeTime(c.lastMessageAt) : 'new'}
                  </Text>
                </Group>
                <Group justify="space-between" wrap="nowrap" gap="xs">
                  <Text size="xs" c="dimmed" truncate dir="auto">
                    {c.lastMessage ?? (name === phone ? 'No messages yet' : phone)}
                  </Text>
                  <Group gap={4} wrap="nowrap" style={{ flexShrink: 0 }}>
                    {c.whatsappPhoneNumberId && connected && c.whatsappPhoneNumberId !== connected && (
                      // The same customer on two numbers of the business is two rows: this one is read-only here.
                      <Badge size="xs" color="gray" variant="outline" title={`Written to WhatsApp number ${c.whatsappPhoneNumberId}, not the connected one`}>
                        other number
                      </Badge>
                    )}
                    {c.isHandedOff && (
                      <Badge size="xs" color="pink" variant="light">
                        human
                      </Badge>
                    )}
                    <Badge size="xs" color={c.isWindowOpen ? 'green' : 'gray'} variant="light" title={c.isWindowOpen ? '24-hour window open' : '24-hour window closed'}>
                      {c.isWindowOpen ? 'open' : 'closed'}
                    </Badge>
                    {unread > 0 && (
                      <Badge size="sm" color="teal" variant="filled" circle={unread < 10} data-testid="unread-count" title={`${unread} unread`}>
                        {unread > 99 ? '99+' : unread}
                      </Badge>
                    )}
                  </Group>
                </Group>
              </UnstyledButton>
            );
          })}
        </div>
        {query.isFetchingNextPage && (
          <Center p="xs">
            <Loader size="xs" />
          </Center>
        )}
      </div>
    </>
  );
}

function ConversationView({ id, narrow }: { id: string; narrow: boolean }) {
  const qc = useQueryClient();
  const navigate = useNavigate();
  const connected = useWhatsAppConfig().data?.phoneNumberId;
  useConversationRoom(id);
  const detail = useQuery({
    queryKey: keys.conversation(id),
    queryFn: () => unwrap(api.GET('/api/conversations/{conversation_id}', { params: { path: { conversation_id: id } } })),
  });
  // Below 64em (1024 px) the Bot panel would squeeze the conversation: it opens on demand, over the messages.
  const overlay = useMediaQuery('(max-width: 63.99em)', undefined, { getInitialValueInEffect: false }) || narrow;
  const [showContext, setShowContext] = useState(!overlay);
  // Over the messages (the whole screen at phone width) the panel is something to close: by its Close button or
  // Escape, the keyboard taken into it when it opens and back to **Bot** when it closes.
  const botButton = useRef<HTMLButtonElement>(null);
  const closeButton = useRef<HTMLButtonElement>(null);
  const focusPanel = useRef(false);
  const toggleContext = () => {
    focusPanel.current = !showContext && overlay;
    setShowContext((v) => !v);
  };
  const closeContext = () => {
    setShowContext(false);
    botButton.current?.focus();
  };
  useEffect(() => {
    if (showContext && focusPanel.current) closeButton.current?.focus();
    focusPanel.current = false;
  }, [showContext]);
  const closeOnEscape = overlay && showContext;
  useEffect(() => {
    if (!closeOnEscape) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.key !== 'Escape' || e.defaultPrevented || e.isComposing) return;
      // Escape in a dialog, a menu or an open select closes that one only
      const target = e.target instanceof Element ? e.target : null;
      if (target?.closest('[role="dialog"], [role="menu"], [role="listbox"], [aria-expanded="true"]')) return;
      closeContext(); // a state setter and a ref, which never change: any render's closeContext will do
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [closeOnEscape]);
  const handoff = useMutation({
    mutationFn: (handedOff: boolean) =>
      unwrap(api.POST('/api/conversations/{conversation_id}/handoff', { params: { path: { conversation_id: id } }, body: { handedOff } })),
    onSuccess: (c) => {
      upsertConversation(qc, c);
      void qc.invalidateQueries({ queryKey: keys.context(id) });
      // the open Bot panel says so itself (and the notice covered its top); without it, a notice does
      if (!showContext) notifications.show({ message: c.isHandedOff ? 'You have taken over: the bot stays silent.' : 'Handed back to the bot.' });
    },
    onError: (e) => notifications.show({ color: 'red', title: 'Could not change the hand-off', message: errorMessage(e) }),
  });
  // The operator is looking at it: the customer's messages are read (the badge clears, the customer sees blue
  // ticks). Again whenever a new message arrives while it is open and the tab is visible.
  const unread = detail.data?.unreadCount ?? 0;
  const markRead = useMutation({
    mutationFn: () => unwrap(api.POST('/api/conversations/{conversation_id}/read', { params: { path: { conversation_id: id } } })),
    onSuccess: (c) => upsertConversation(qc, c),
  });
  const { mutate: readNow } = markRead;
  useEffect(() => {
    if (unread <= 0) return;
    // Once per new count (a failed call is not repeated in a loop; the next message tries again).
    let done = false;
    const read = () => {
      if (done || document.visibilityState !== 'visible') return;
      done = true;
      readNow();
    };
    read();
    document.addEventListener('visibilitychange', read);
    return () => document.removeEventListener('visibilitychange', read);
  }, [unread, readNow]);
  // keep the list entry in step when the detail loads
  useEffect(() => {
    if (detail.data)
      qc.setQueriesData<ConversationPages>({ queryKey: keys.conversations }, (d) =>
        d ? { ...d, pages: d.pages.map((p) => ({ ...p, items: p.items.map((c) => (c.id === id ? { ...c, ...detail.data, participants: undefined } : c)) })) } : d,
      );
  }, [detail.data, id, qc]);

  if (detail.isPending)
    return (
      <Center style={{ flex: 1 }}>
        <Loader aria-label="Loading the conversation" />
      </Center>
    );
  if (detail.isError)
    return (
      <Alert color="red" m="md" title="Could not open the conversation" style={{ flex: 1, alignSelf: 'flex-start' }}>
        {errorMessage(detail.error)}
        <div>
          <Button size="xs" mt="xs" variant="light" color="red" loading={detail.isFetching} onClick={() => void detail.refetch()}>
            Retry
          </Button>
        </div>
      </Alert>
    );
  const c = detail.data;
  const customer = c.participants.find((p) => p.id === c.customerId) ?? c.participants[0];
  const onOtherNumber = !!c.whatsappPhoneNumberId && !!connected && c.whatsappPhoneNumberId !== connected;
  return (
    <>
      <Box style={{ flex: 1, minWidth: 0, display: 'flex', flexDirection: 'column' }}>
        <Group justify="space-between" px="sm" py={6} wrap="nowrap" style={{ borderBottom: '1px solid var(--mantine-color-gray-3)' }}>
          <Group gap="xs" wrap="nowrap" style={{ minWidth: 0 }}>
            {narrow && (
              <ActionIcon variant="subtle" aria-label="Back to the conversations" onClick={() => navigate('/inbox')}>
                ←
              </ActionIcon>
            )}
            <div style={{ minWidth: 0 }}>
              <Text fw={700} truncate dir="auto">
                {c.customerName || customer?.name || c.customerPhone || customer?.phoneNumber || 'Customer'}
              </Text>
              <Text size="xs" c="dimmed" truncate>
                {c.customerPhone ?? customer?.phoneNumber ?? customer?.bsuid ?? ''} {customer?.username ? `· @${customer.username}` : ''}
              </Text>
            </div>
          </Group>
          {/* The buttons keep their size; the customer's name is what gets cut short. */}
          <Group gap="xs" wrap="nowrap" style={{ flexShrink: 0 }}>
            <Badge
              color={c.isWindowOpen ? 'green' : 'gray'}
              variant="light"
              px={narrow ? 6 : undefined}
              title="WhatsApp's 24-hour customer-service window: outside it, only templates can be sent"
            >
              {/* at phone width in a word: the header also holds the name and two buttons */}
              {narrow ? (c.isWindowOpen ? 'open' : 'closed') : c.isWindowOpen ? 'window open' : 'window closed'}
            </Badge>
            {!onOtherNumber && (
              // No bot runs on another number's conversation: nothing to take over from.
              <Button
                size="xs"
                color={c.isHandedOff ? 'gray' : 'pink'}
                variant={c.isHandedOff ? 'default' : 'filled'}
                loading={handoff.isPending}
                onClick={() => handoff.mutate(!c.isHandedOff)}
                aria-label={c.isHandedOff ? 'Hand back to bot' : 'Take over'}
              >
                {/* at phone width the long label left the customer's name three letters */}
                {c.isHandedOff ? (narrow ? 'Hand back' : 'Hand back to bot') : 'Take over'}
              </Button>
            )}
            <Button ref={botButton} size="xs" variant="default" onClick={toggleContext} aria-pressed={showContext}>
              Bot
            </Button>
          </Group>
        </Group>
        <MessageList id={id} />
        <Composer id={id} windowOpen={c.isWindowOpen} number={c.whatsappPhoneNumberId ?? null} handedOff={c.isHandedOff} botRan={c.hasBotContext} />
      </Box>
      {showContext && (
        <Box
          w={narrow ? '100%' : overlay ? 320 : 280}
          p="sm"
          style={{
            borderLeft: '1px solid var(--mantine-color-gray-3)',
            overflow: 'auto',
            // over the messages: the whole width at phone width, else a shadowed panel at the right
            ...(overlay ? { position: 'absolute', top: 56, right: 0, bottom: 0, background: 'white', zIndex: 10 } : {}),
            ...(overlay && !narrow ? { boxShadow: 'var(--mantine-shadow-md)' } : {}),
          }}
        >
          <ContextPanel id={id} handedOff={c.isHandedOff} botRan={c.hasBotContext} onClose={overlay ? closeContext : undefined} closeRef={closeButton} />
        </Box>
      )}
    </>
  );
}

function MessageList({ id }: { id: string }) {
  const query = useInfiniteQuery({
    queryKey: keys.messages(id),
    initialPageParam: null as string | null,
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET('/api/conversations/{conversation_id}/messages', {
          params: { path: { conversation_id: id }, query: { limit: 30, before: pageParam ?? undefined } },
        }),
      ),
    getNextPageParam: (last) => last.nextCursor ?? undefined,
    // on refetch (reconnect) only the newest page is needed again
    maxPages: 20,
  });
  const messages = useMemo(() => {
    const list = query.data?.pages.flatMap((p) => p.items) ?? [];
    const seen = new Set<string>();
    return displayOrder(list.filter((m) => (seen.has(m.id) ? false : (seen.add(m.id), true))));
  }, [query.data]);
  // By WhatsApp's id (customers' replies and reactions name it) and by ours (an operator's reaction names ours).
  const byWhatsAppId = useMemo(
    () => new Map(messages.flatMap((m) => [[m.id, m] as const, ...(m.whatsappMessageId ? [[m.whatsappMessageId, m] as const] : [])])),
    [messages],
  );

  const box = useRef<HTMLDivElement>(null);
  const anchor = useRef<{ height: number; top: number } | null>(null);
  const atBottom = useRef(true);
  const newest = messages.at(-1)?.id;
  const oldest = messages[0]?.id;

  // keep the view still when older messages are prepended; follow new ones when at the bottom
  useLayoutEffect(() => {
    const el = box.current;
    if (!el) return;
    if (anchor.current) {
      el.scrollTop = el.scrollHeight - anchor.current.height + anchor.current.top;
      anchor.current = null;
    } else if (atBottom.current) el.scrollTop = el.scrollHeight;
  }, [newest, oldest, messages.length]);

  // An image or video gets its height only once loaded, after the scroll above: follow it down if at the bottom.
  // (`load` does not bubble; a capturing listener on the list hears it for every bubble's media.)
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const follow = () => {
      if (atBottom.current && !anchor.current) el.scrollTop = el.scrollHeight;
    };
    el.addEventListener('load', follow, true);
    el.addEventListener('loadedmetadata', follow, true);
    return () => {
      el.removeEventListener('load', follow, true);
      el.removeEventListener('loadedmetadata', follow, true);
    };
  }, []);

  const onScroll = () => {
    const el = box.current;
    if (!el) return;
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 60;
    if (el.scrollTop < 80 && query.hasNextPage && !query.isFetchingNextPage) {
      anchor.current = { height: el.scrollHeight, top: el.scrollTop };
      void query.fetchNextPage();
    }
  };

  return (
    <div ref={box} onScroll={onScroll} className={bubbles.chat} style={{ flex: 1, overflow: 'auto', padding: '8px 12px' }} data-testid="messages" aria-label="Messages" role="log">
      {query.isFetchingNextPage && (
        <Center>
          <Loader size="xs" />
        </Center>
      )}
      {query.hasNextPage === false && messages.length > 0 && (
        <Text size="xs" c="dimmed" ta="center" my={4}>
          Beginning of the conversation
        </Text>
      )}
      {query.isPending && (
        <Center p="md">
          <Loader aria-label="Loading messages" />
        </Center>
      )}
      {query.isError && (
        <Alert color="red" title="Could not load the messages">
          {errorMessage(query.error)}
        </Alert>
      )}
      {query.data && messages.length === 0 && (
        <Text size="sm" c="dimmed" ta="center" mt="md">
          No messages yet.
        </Text>
      )}
      {messages.map((m) => (
        <MessageBubble
          key={m.id}
          type={m.type}
          content={m.content}
          direction={(m.direction ?? 'inbound') as 'inbound' | 'outbound'}
          status={m.status as Status}
          error={m.error}
          timestamp={m.timestamp}
          sentBy={m.sentBy}
          quote={quoteOf(m, byWhatsAppId)}
          mediaPath={`/api/conversations/${m.conversationId}/messages/${m.id}/media`}
        />
      ))}
    </div>
  );
}

function Composer({ id, windowOpen, number, handedOff, botRan }: { id: string; windowOpen: boolean; number: string | null; handedOff: boolean; botRan: boolean }) {
  const qc = useQueryClient();
  const bot = useBotContext(id, botRan);
  const botRunning = !handedOff && !!bot.data?.isActive;
  const [text, setText] = useState('');
  const [closed, setClosed] = useState(false);
  const [elsewhere, setElsewhere] = useState(false);
  const config = useWhatsAppConfig();
  const connected = config.data?.phoneNumberId;
  // The customer wrote to another number of the business (or to the one connected before): replies must come
  // from that number, which this config cannot send from; the server refuses them (409 number_not_connected).
  const otherNumber = elsewhere || (number !== null && connected !== undefined && number !== connected);
  const [mediaOpen, setMediaOpen] = useState(false);
  const [templateOpen, setTemplateOpen] = useState(false);
  const send = useMutation({
    mutationFn: (body: { type: string; content: Record<string, unknown> }) =>
      unwrap(api.POST('/api/conversations/{conversation_id}/messages', { params: { path: { conversation_id: id } }, body })),
    onSuccess: (m: Message) => {
      addMessage(qc, m);
      setClosed(false);
      notifications.hide(SEND_FAILED); // an earlier failure's notice, now answered by this send
    },
    onError: (e, body) => {
      if (e instanceof ApiError && e.code === 'window_closed') {
        setClosed(true);
        // it closed since the list was loaded (the server announces it within a minute): the header and the
        // list say so now too
        void unwrap(api.GET('/api/conversations/{conversation_id}', { params: { path: { conversation_id: id } } }))
          .then((c) => upsertConversation(qc, c))
          .catch(() => undefined);
      } else if (e instanceof ApiError && e.code === 'number_not_connected') setElsewhere(true);
      // the media and template forms show their errors beside their inputs
      else if (body.type === 'text') notifications.show({ id: SEND_FAILED, color: 'red', title: 'Not sent', message: errorMessage(e) });
    },
  });
  // WhatsApp's limit is 4,096 characters, as the API counts them (code points): a textarea's maxLength counts
  // UTF-16 units, and cut a pasted emoji text at half of it.
  const length = useMemo(() => Array.from(text.trim()).length, [text]); // what is sent, and counted
  const tooLong = length > 4096;
  const submit = async () => {
    const body = text.trim();
    if (!body || tooLong || isClosed) return;
    try {
      await send.mutateAsync({ type: 'text', content: { body } });
      setText('');
    } catch {
      /* shown above */
    }
  };
  // A send refused as outside the window (409) shows the banner until the customer writes again: then the
  // window is open (the conversation's update says so) and the banner goes.
  useEffect(() => {
    if (windowOpen) setClosed(false);
  }, [windowOpen]);
  const isClosed = closed || !windowOpen;
  if (otherNumber) {
    return (
      <Box p="xs" style={{ borderTop: '1px solid var(--mantine-color-gray-3)' }}>
        <Alert color="gray" p="xs" title="Another WhatsApp number" role="status">
          <Text size="sm">
            The customer wrote to another number of the business{number ? ` (phone number ID ${number})` : ''}, not the one connected in Settings.
            Replies must come from the number they wrote to, so this conversation is read-only here and the bot does not answer it.
          </Text>
        </Alert>
      </Box>
    );
  }
  return (
    <Box p="xs" style={{ borderTop: '1px solid var(--mantine-color-gray-3)' }}>
      {isClosed && (
        <Alert color="yellow" mb="xs" p="xs" title="The 24-hour window is closed" role="status">
          <Text size="sm">
            WhatsApp only lets a business send free-form messages within 24 hours of the customer's last message. Until they write again, send an
            approved template.
          </Text>
          <Button size="xs" mt={6} onClick={() => setTemplateOpen(true)}>
            Send a template
          </Button>
        </Alert>
      )}
      {botRunning && !isClosed && (
        <Text size="xs" c="dimmed" mb={4} data-testid="bot-running-hint">
          The bot is running here and answers the customer's next message too. Take over to answer alone.
        </Text>
      )}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <Group gap="xs" wrap="nowrap" align="flex-end">
          <Menu position="top-start">
            <Menu.Target>
              <ActionIcon variant="default" size="lg" aria-label="Attach">
                +
              </ActionIcon>
            </Menu.Target>
            <Menu.Dropdown>
              <Menu.Item onClick={() => setMediaOpen(true)}>Media by link…</Menu.Item>
              <Menu.Item onClick={() => setTemplateOpen(true)}>Template…</Menu.Item>
            </Menu.Dropdown>
          </Menu>
          <Textarea
            style={{ flex: 1 }}
            autosize
            minRows={1}
            maxRows={5}
            placeholder={isClosed ? 'Window closed: send a template' : 'Type a message'}
            aria-label="Message"
            value={text}
            error={tooLong ? `${length.toLocaleString('en-US')} characters: WhatsApp takes at most 4,096` : undefined}
            onChange={(e) => setText(e.currentTarget.value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter' && !e.shiftKey) {
                e.preventDefault();
                void submit();
              }
            }}
          />
          <Button
            type="submit"
            loading={send.isPending}
            // free text cannot go while the window is closed (the banner says why and offers a template)
            disabled={!text.trim() || tooLong || isClosed}
            title={isClosed ? 'The 24-hour window is closed: send a template' : undefined}
          >
            Send
          </Button>
        </Group>
      </form>
      <MediaModal opened={mediaOpen} onClose={() => setMediaOpen(false)} onSend={(b) => send.mutateAsync(b).then(() => setMediaOpen(false))} />
      <TemplateModal opened={templateOpen} onClose={() => setTemplateOpen(false)} onSend={(b) => send.mutateAsync(b).then(() => setTemplateOpen(false))} />
    </Box>
  );
}

type SendBody = { type: string; content: Record<string, unknown> };

/** Write first: the connected number's conversation with a customer, by phone number (made, or found). */
function NewConversationModal({ opened, onClose }: { opened: boolean; onClose(): void }) {
  const [phone, setPhone] = useState('');
  const [name, setName] = useState('');
  const [error, setError] = useState<string | null>(null);
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const open = useMutation({
    mutationFn: () =>
      unwrap(api.POST('/api/conversations', { body: { customerPhoneNumber: phone.trim(), customerName: name.trim() || undefined } })),
    onSuccess: (conversation) => {
      void queryClient.invalidateQueries({ queryKey: keys.conversations });
      setPhone('');
      setName('');
      setError(null);
      onClose();
      navigate(`/inbox/${conversation.id}`);
    },
    onError: (err) => setError(fieldErrors(err).customerPhoneNumber ?? errorMessage(err)),
  });
  return (
    <Modal opened={opened} onClose={onClose} title="New conversation">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (!phone.trim()) return setError('The customer\'s WhatsApp number, with its country code');
          open.mutate();
        }}
      >
        <Stack>
          <Text size="sm" c="dimmed">
            Until the customer answers, WhatsApp only lets you send an approved template.
          </Text>
          <TextInput
            label="Phone number"
            placeholder="+14155550123"
            value={phone}
            onChange={(e) => setPhone(e.currentTarget.value)}
            error={error}
            withAsterisk
            data-autofocus
          />
          <TextInput label="Name" description="For a customer not known yet" value={name} maxLength={100} onChange={(e) => setName(e.currentTarget.value)} />
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" loading={open.isPending}>
              Open conversation
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

function MediaModal({ opened, onClose, onSend }: { opened: boolean; onClose(): void; onSend(b: SendBody): Promise<unknown> }) {
  const [type, setType] = useState<string>('image');
  const [url, setUrl] = useState('');
  const [caption, setCaption] = useState('');
  const [error, setError] = useState<string | null>(null);
  return (
    <Modal opened={opened} onClose={onClose} title="Send media by link">
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          if (!/^https?:\/\//.test(url)) return setError('A public http(s) link');
          try {
            await onSend({ type, content: caption && type !== 'audio' ? { url, caption } : { url } });
            setUrl('');
            setCaption('');
            setError(null);
          } catch (err) {
            setError(fieldErrors(err)['content.url'] ?? errorMessage(err));
          }
        }}
      >
        <Stack>
          <Select label="Type" data={['image', 'video', 'audio', 'document']} value={type} onChange={(v) => setType(v ?? 'image')} allowDeselect={false} />
          <TextInput label="Link" placeholder="https://…" value={url} onChange={(e) => setUrl(e.currentTarget.value)} error={error} withAsterisk />
          {type !== 'audio' && <TextInput label="Caption" value={caption} maxLength={1024} onChange={(e) => setCaption(e.currentTarget.value)} />}
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit">Send</Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

type TemplateErrors = { name?: string; language?: string; params?: string };

/** A refused template's errors beside the inputs they are about; what names none of them goes under the name. */
function templateErrors(err: unknown): TemplateErrors {
  const fields = fieldErrors(err);
  const out: TemplateErrors = {};
  for (const [field, message] of Object.entries(fields)) {
    if (field.startsWith('content.language')) out.language ??= message;
    else if (field.startsWith('content.bodyParameters') || field.startsWith('content.components')) out.params ??= message;
    else if (field.startsWith('content.name')) out.name ??= message;
  }
  if (!out.name && !out.language && !out.params) out.name = errorMessage(err);
  return out;
}

function TemplateModal({ opened, onClose, onSend }: { opened: boolean; onClose(): void; onSend(b: SendBody): Promise<unknown> }) {
  const [name, setName] = useState('');
  const [language, setLanguage] = useState('en_US');
  const [params, setParams] = useState<string[]>([]);
  const [errors, setErrors] = useState<TemplateErrors>({});
  return (
    <Modal opened={opened} onClose={onClose} title="Send a template message">
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          if (!name.trim()) return setErrors({ name: 'The template name as approved in WhatsApp Manager' });
          try {
            await onSend({ type: 'template', content: { name: name.trim(), language, bodyParameters: params } });
            setErrors({});
          } catch (err) {
            setErrors(templateErrors(err));
          }
        }}
      >
        <Stack>
          <TextInput label="Template name" placeholder="order_update" value={name} onChange={(e) => setName(e.currentTarget.value)} error={errors.name} withAsterisk />
          <TextInput label="Language" value={language} onChange={(e) => setLanguage(e.currentTarget.value)} description="e.g. en_US, pt_BR" error={errors.language} />
          <TagsInput label="Body parameters" description="{{1}}, {{2}}… in order; Enter after each" value={params} onChange={setParams} error={errors.params} />
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit">Send template</Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

/** The id of the notice of a failed send, hidden again by the next send that works. */
const SEND_FAILED = 'send-failed';

/** Plain words for the runner's ended reasons (unknown ones are shown as their code). */
const ENDED_REASONS: Record<string, string> = {
  completed: 'the flow reached its end',
  handoff: 'handed off to a human',
  error: 'an internal failure',
  node_missing: 'its current node was removed from the flow',
  step_limit: 'too many steps in one turn',
  timer_limit: 'too many delays in a row without an answer',
  timeout: 'the customer did not answer in time',
  restart: 'the customer restarted it',
  chatbot_unavailable: 'the chatbot was switched off, archived or deleted',
};

/** The conversation's bot context (the running one, else the last that ended); null when no bot ever ran.
 * `ran` is the conversation's `hasBotContext`: without one the server answers 404, which the browser logs as an
 * error, so it is not asked (a `context:updated` event sets `hasBotContext`, and then it is). */
function useBotContext(id: string, ran: boolean): { data: ContextInfo | null | undefined; isPending: boolean; isError: boolean; error: unknown } {
  const query = useQuery({
    queryKey: keys.context(id),
    queryFn: async () => {
      try {
        return await unwrap(api.GET('/api/conversations/{conversation_id}/context', { params: { path: { conversation_id: id } } }));
      } catch (e) {
        // the bot's contexts went with its chatbot (deleted) since the conversation was loaded
        if (e instanceof ApiError && e.status === 404) return null;
        throw e;
      }
    },
    enabled: ran,
  });
  if (!ran && query.data === undefined) return { data: null, isPending: false, isError: false, error: null };
  return query;
}

function ContextPanel({ id, handedOff, botRan, onClose, closeRef }: { id: string; handedOff: boolean; botRan: boolean; onClose?: () => void; closeRef?: Ref<HTMLButtonElement> }) {
  const ctx = useBotContext(id, botRan);
  // a hand-off is a pause, not an end: handing back lets the bot answer again
  const paused = !!ctx.data && !ctx.data.isActive && ctx.data.endedReason === 'handoff';
  return (
    <Stack gap="xs" aria-label="Bot context">
      <Group justify="space-between">
        <Title order={2} size="h5">
          Bot
        </Title>
        {onClose && (
          // a word, not a lone ✕: at phone width the panel covers the conversation, and this is the way back
          <Button ref={closeRef} size="xs" variant="default" leftSection={<span aria-hidden>✕</span>} aria-label="Close the bot panel" title="Close (Esc)" onClick={onClose}>
            Close
          </Button>
        )}
      </Group>
      {ctx.isPending && <Skeleton h={80} />}
      {ctx.isError && <Alert color="red">{errorMessage(ctx.error)}</Alert>}
      {ctx.data === null && (
        <Text size="sm" c="dimmed">
          No bot runs in this conversation.
        </Text>
      )}
      {ctx.data && (
        <>
          <Group gap="xs">
            <Badge color={ctx.data.isActive ? 'green' : 'gray'} variant="light" data-testid="context-state">
              {ctx.data.isActive ? 'running' : paused ? 'paused' : 'ended'}
            </Badge>
            <Text size="xs" c="dimmed">
              {ctx.data.isActive ? 'since' : 'last change'} {relativeTime(ctx.data.updatedAt)}
            </Text>
          </Group>
          {!ctx.data.isActive && (
            <Alert color="gray" variant="light" p="xs" title={paused ? (handedOff ? 'A human has the conversation' : 'Handed back to the bot') : 'The bot has stopped'} data-testid="context-ended">
              <Text size="xs">
                Reason: <Code>{ctx.data.endedReason ?? 'unknown'}</Code>
                {ENDED_REASONS[ctx.data.endedReason ?? ''] ? ` — ${ENDED_REASONS[ctx.data.endedReason ?? '']}` : ''}
              </Text>
              {paused && (
                <Text size="xs" mt={4}>
                  {handedOff
                    ? "Hand back to bot and it answers again: from this node when it was waiting for the customer's answer, else from the start at their next message."
                    : "Handed back: the bot answers the customer's next message."}
                </Text>
              )}
            </Alert>
          )}
          <Text size="sm">
            Current node: <Code>{ctx.data.currentNodeId}</Code>
          </Text>
          <Text size="xs" c="dimmed">
            Chatbot: <Link to={`/chatbots/${ctx.data.chatbotId}`}>open the flow</Link>
          </Text>
          <Text size="xs" fw={700} mt="xs">
            Variables
          </Text>
          <VariablesTable variables={ctx.data.variables as Record<string, unknown>} />
          {ctx.data.nodeHistory.length > 0 && (
            <>
              <Text size="xs" fw={700} mt="xs">
                Path
              </Text>
              <Text size="xs" c="dimmed" style={{ wordBreak: 'break-word' }}>
                {(ctx.data.nodeHistory as string[]).slice(-15).join(' → ')}
              </Text>
            </>
          )}
        </>
      )}
    </Stack>
  );
}
