// One WhatsApp-style bubble per message type, with delivery ticks for outbound messages.
import { Anchor, Badge, Box, Button, Group, Menu, Modal, Stack, Text, Tooltip, UnstyledButton } from '@mantine/core';
import { useEffect, useState, type ReactNode } from 'react';
import { errorMessage, fetchBlob } from '../api/client';
import classes from './bubble.module.css';

type Obj = Record<string, unknown>;
const s = (v: unknown): string => (typeof v === 'string' ? v : v == null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));
const arr = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);

export type Direction = 'inbound' | 'outbound';
export type Status = 'pending' | 'sent' | 'delivered' | 'read' | 'failed' | 'played';

export interface BubbleProps {
  type: string;
  content: unknown;
  direction: Direction;
  status?: Status | null;
  error?: Obj | null;
  timestamp?: string | null;
  /** Who wrote it (`sentBy`): outbound ones say whether the bot or an operator did. */
  sentBy?: string | null;
  /** Makes reply buttons and list rows clickable (the test panel). */
  onReply?(reply: { buttonId: string; title: string } | { listRowId: string; title: string }): void;
  /** Disables reply buttons of an old message. */
  repliesDisabled?: boolean;
  /** What this message replies or reacts to (WhatsApp's `context`): a preview of that message's text. */
  quote?: string | null;
  /** Where the server serves this message's media (a customer's photo, known to WhatsApp by id only). */
  mediaPath?: string | null;
}

const AUTHORS: Record<string, string> = { bot: 'Bot', operator: 'Operator' };

export function MessageBubble({ type, content, direction, status, error, timestamp, sentBy, onReply, repliesDisabled, quote, mediaPath }: BubbleProps) {
  const c = (content && typeof content === 'object' ? content : {}) as Obj;
  const mine = direction === 'outbound';
  return (
    <Box className={`${classes.row} ${mine ? classes.out : classes.in}`} data-testid="bubble" data-type={type} data-direction={direction}>
      <Box className={`${classes.bubble} ${mine ? classes.bubbleOut : classes.bubbleIn}`}>
        {quote != null && (
          <Text size="xs" c="dimmed" lineClamp={2} className={classes.quote} data-testid="quote" aria-label={`${type === 'reaction' ? 'Reacting' : 'Replying'} to: ${quote}`}>
            {quote}
          </Text>
        )}
        {c.forwarded === true && (
          <Text size="10px" c="dimmed" fs="italic">
            ↪ {c.frequentlyForwarded === true ? 'Forwarded many times' : 'Forwarded'}
          </Text>
        )}
        {c.referredProduct != null && typeof c.referredProduct === 'object' && (
          <Text size="xs" c="dimmed" data-testid="referred-product">
            🛍 About product {s((c.referredProduct as Obj).productRetailerId) || '?'}
          </Text>
        )}
        <MessageContent type={type} c={c} onReply={onReply} repliesDisabled={repliesDisabled} mediaPath={mediaPath} />
        <Group gap={4} justify="flex-end" className={classes.meta}>
          {mine && sentBy && AUTHORS[sentBy] && (
            <Text size="10px" c="dimmed" fw={600} data-testid="sent-by" data-sent-by={sentBy}>
              {AUTHORS[sentBy]}
            </Text>
          )}
          {timestamp && <Text size="10px" c="dimmed">{formatTime(timestamp)}</Text>}
          {mine && status && <Ticks status={status} error={error} />}
        </Group>
      </Box>
    </Box>
  );
}

export function formatTime(iso: string) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

export function Ticks({ status, error }: { status: Status; error?: Obj | null }) {
  switch (status) {
    case 'pending':
      return (
        <span className={classes.tick} aria-label="Pending" title="Pending" data-status="pending">
          🕓
        </span>
      );
    case 'sent':
      return (
        <span className={classes.tick} aria-label="Sent" title="Sent" data-status="sent">
          ✓
        </span>
      );
    case 'delivered':
      return (
        <span className={classes.tick} aria-label="Delivered" title="Delivered" data-status="delivered">
          ✓✓
        </span>
      );
    case 'read':
      return (
        <span className={`${classes.tick} ${classes.read}`} aria-label="Read" title="Read" data-status="read">
          ✓✓
        </span>
      );
    case 'played': // a voice message the customer listened to (WhatsApp shows a blue microphone)
      return (
        <span className={`${classes.tick} ${classes.read}`} aria-label="Played" title="Played" data-status="played">
          ✓✓ 🎤
        </span>
      );
    case 'failed': {
      const reason = error ? [s(error.title) || s(error.message), s(error.details)].filter(Boolean).join(': ') || `Error ${s(error.code)}` : 'Failed';
      return (
        <Tooltip label={reason} multiline w={260}>
          <Text span size="xs" c="red" aria-label={`Failed: ${reason}`} data-status="failed">
            ⚠ Failed{error ? `: ${s(error.title) || s(error.message) || s(error.code)}` : ''}
          </Text>
        </Tooltip>
      );
    }
    default:
      return null;
  }
}

function MessageContent({
  type,
  c,
  onReply,
  repliesDisabled,
  mediaPath,
}: {
  type: string;
  c: Obj;
  onReply?: BubbleProps['onReply'];
  repliesDisabled?: boolean;
  mediaPath?: string | null;
}): ReactNode {
  switch (type) {
    case 'text':
      return <Text size="sm" className={classes.text}>{s(c.body)}</Text>;
    case 'image':
    case 'video':
    case 'audio':
    case 'document':
    case 'sticker':
      return <Media type={type} c={c} mediaPath={mediaPath} />;
    case 'interactive':
      return <Interactive c={c} onReply={onReply} repliesDisabled={repliesDisabled} />;
    case 'button':
      return (
        <Stack gap={2}>
          <Text size="sm">{s(c.title) || s(c.text)}</Text>
          <Text size="10px" c="dimmed">
            quick reply
          </Text>
        </Stack>
      );
    case 'reaction':
      return (
        <Text size="sm" aria-label={`Reaction ${s(c.emoji)}`}>
          {s(c.emoji) || '(reaction removed)'}{' '}
          <Text span size="10px" c="dimmed">
            reaction
          </Text>
        </Text>
      );
    case 'location': {
      const lat = s(c.latitude);
      const lon = s(c.longitude);
      return (
        <Stack gap={2}>
          <Text size="sm" fw={600}>
            📍 {s(c.name) || 'Location'}
          </Text>
          {c.address != null && <Text size="xs">{s(c.address)}</Text>}
          <Anchor size="xs" href={`https://www.openstreetmap.org/?mlat=${lat}&mlon=${lon}#map=16/${lat}/${lon}`} target="_blank" rel="noreferrer">
            {lat}, {lon}
          </Anchor>
        </Stack>
      );
    }
    case 'contacts':
      return (
        <Stack gap={2}>
          {arr(c.contacts).map((ct, i) => {
            const name = ct.name as Obj | string | undefined;
            const display = typeof name === 'string' ? name : s(name?.formatted_name ?? name?.formattedName ?? name?.first_name);
            const phones = arr(ct.phones).map((p) => s(p.phone ?? p.wa_id));
            return (
              <Text size="sm" key={i}>
                👤 {display || 'Contact'} {phones.length ? `· ${phones.join(', ')}` : ''}
              </Text>
            );
          })}
        </Stack>
      );
    case 'template': {
      const params = Array.isArray(c.bodyParameters) ? (c.bodyParameters as unknown[]).map(s) : [];
      return (
        <Stack gap={2}>
          <Badge size="xs" variant="light">
            template
          </Badge>
          <Text size="sm" fw={600}>
            {s(c.name)} <Text span size="xs" c="dimmed">({s(c.language)})</Text>
          </Text>
          {params.length > 0 && <Text size="xs">Parameters: {params.join(', ')}</Text>}
        </Stack>
      );
    }
    case 'system': {
      const edited = (c.message && typeof c.message === 'object' ? c.message : {}) as Obj;
      const editedTo = (edited.content && typeof edited.content === 'object' ? edited.content : {}) as Obj;
      return (
        <Text size="sm" fs="italic" c="dimmed">
          {c.kind === 'request_welcome'
            ? 'Opened the chat for the first time'
            : c.kind === 'call'
              ? 'Called you on WhatsApp'
              : c.kind === 'revoke'
              ? 'Deleted this message'
              : c.kind === 'edit'
                ? `Edited this message${s(editedTo.body) || s(editedTo.caption) ? ` to: ${s(editedTo.body) || s(editedTo.caption)}` : ''}`
                : s(c.body) || `WhatsApp notice${c.kind ? ` (${s(c.kind)})` : ''}`}
        </Text>
      );
    }
    case 'order': {
      // the items as WhatsApp sends them: product_retailer_id, quantity, item_price, currency
      const items = arr(c.productItems);
      const count = items.reduce((n, it) => n + (Number(it.quantity) || 0), 0);
      return (
        <Stack gap={2}>
          <Text size="sm" fw={600}>
            🛒 Order · {count} {count === 1 ? 'item' : 'items'}
          </Text>
          {items.slice(0, 20).map((it, i) => (
            <Text size="xs" key={i}>
              {s(it.quantity) || '?'} × {s(it.product_retailer_id) || 'product'}
              {it.item_price != null ? ` · ${s(it.item_price)} ${s(it.currency)}`.trimEnd() : ''}
            </Text>
          ))}
          {items.length > 20 && (
            <Text size="xs" c="dimmed">
              +{items.length - 20} more
            </Text>
          )}
          {s(c.text) && <Text size="sm">{s(c.text)}</Text>}
        </Stack>
      );
    }
    case 'unsupported':
      return (
        <Text size="sm" fs="italic" c="dimmed">
          Unsupported message{c.originalType ? ` (${s(c.originalType)})` : ''}
        </Text>
      );
    default:
      return (
        <Text size="sm" fs="italic" c="dimmed">
          [{type}] {s(c.body) || JSON.stringify(c).slice(0, 200)}
        </Text>
      );
  }
}

function Media({ type, c, mediaPath }: { type: string; c: Obj; mediaPath?: string | null }) {
  const url = s(c.url);
  const caption = s(c.caption);
  const icon = { image: '🖼', video: '🎬', audio: '🎵', document: '📄', sticker: '🏷' }[type] ?? '📎';
  const label = s(c.filename) || (url ? url.split('/').pop() : '') || `${type}${c.id ? ` ${s(c.id)}` : ''}`;
  // Known to WhatsApp by id only: the server fetches it (photos and stickers at once, the rest when asked).
  const fetched = !url && mediaPath ? <FetchedMedia type={type} path={mediaPath} label={label} icon={icon} caption={caption} voice={c.voice === true} /> : null;
  return (
    <Stack gap={4}>
      {fetched ??
        (type === 'image' && url ? (
          <Photo src={url} alt={caption || 'Image'} external />
        ) : type === 'sticker' && url ? (
          <img src={url} alt="Sticker" className={classes.sticker} loading="lazy" />
        ) : (
          <Group gap={6} wrap="nowrap">
            <Text span aria-hidden>
              {icon}
            </Text>
            {url ? (
              <Anchor size="sm" href={url} target="_blank" rel="noreferrer" className={classes.text}>
                {label}
              </Anchor>
            ) : (
              <Text size="sm" className={classes.text}>
                {label}
              </Text>
            )}
          </Group>
        ))}
      <Text size="10px" c="dimmed" tt="uppercase">
        {type}
      </Text>
      {caption && <Text size="sm" className={classes.text}>{caption}</Text>}
    </Stack>
  );
}

/** A photo in its bubble (at most 240 px high): a click opens it full size over the page; Escape, the close
 *  button or a click beside it closes it. A photo sent by link can also be opened in a new tab from there. */
function Photo({ src, alt, testId, external }: { src: string; alt: string; testId?: string; external?: boolean }) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <UnstyledButton onClick={() => setOpen(true)} aria-label="Open the photo full size" title="Open full size" className={classes.photoButton}>
        <img src={src} alt={alt} className={classes.image} data-testid={testId} loading={external ? 'lazy' : undefined} />
      </UnstyledButton>
      <Modal opened={open} onClose={() => setOpen(false)} size="auto" centered title={alt === 'Image' ? 'Photo' : alt}>
        <Stack gap="xs" align="center">
          <img src={src} alt={alt} className={classes.fullImage} data-testid="media-image-full" />
          {external && /^https?:/i.test(src) && (
            <Anchor size="sm" href={src} target="_blank" rel="noreferrer">
              Open in a new tab
            </Anchor>
          )}
        </Stack>
      </Modal>
    </>
  );
}

// Shown in the page as they are (the server's inline types). Anything else becomes an untyped download: a blob: URL
// is of this app's origin, so an HTML page or an SVG a customer sent, opened from it, would run as the app.
const SHOWN_TYPES = new Set(['image/jpeg', 'image/png', 'image/webp', 'image/gif', 'audio/ogg', 'audio/mpeg', 'audio/aac', 'audio/mp4', 'audio/amr', 'video/mp4', 'video/3gpp']);

/** A medium fetched through the server with the token (an <img> cannot send it), shown from a blob URL. */
function FetchedMedia({ type, path, label, icon, caption, voice }: { type: string; path: string; label: string; icon: string; caption: string; voice: boolean }) {
  const visual = type === 'image' || type === 'sticker';
  const [wanted, setWanted] = useState(visual);
  const [state, setState] = useState<{ url?: string; blobType?: string; error?: string; loading?: boolean }>({});
  useEffect(() => {
    if (!wanted) return;
    let objectUrl: string | undefined;
    let gone = false;
    setState({ loading: true });
    fetchBlob(path)
      .then((fetched) => {
        const blob = SHOWN_TYPES.has(fetched.type) ? fetched : new Blob([fetched], { type: 'application/octet-stream' });
        objectUrl = URL.createObjectURL(blob);
        if (gone) URL.revokeObjectURL(objectUrl);
        else setState({ url: objectUrl, blobType: blob.type });
      })
      .catch((e: unknown) => !gone && setState({ error: errorMessage(e) }));
    return () => {
      gone = true;
      if (objectUrl) URL.revokeObjectURL(objectUrl);
    };
  }, [wanted, path]);

  if (state.error)
    return (
      <Text size="sm" c="dimmed" data-testid="media-error">
        {icon} {label}: {state.error}
      </Text>
    );
  if (state.url && type === 'image' && state.blobType?.startsWith('image/')) return <Photo src={state.url} alt={caption || 'Image'} testId="media-image" />;
  if (state.url && visual && state.blobType?.startsWith('image/'))
    return <img src={state.url} alt={caption || 'Sticker'} className={classes.sticker} data-testid="media-image" />;
  if (state.url && type === 'audio' && state.blobType?.startsWith('audio/')) return <audio controls src={state.url} autoPlay aria-label={voice ? 'Voice note' : 'Audio'} />;
  if (state.url && type === 'video' && state.blobType?.startsWith('video/')) return <video controls src={state.url} autoPlay className={classes.image} aria-label="Video" />;
  if (state.url)
    return (
      <Anchor size="sm" href={state.url} download={label} className={classes.text}>
        {icon} Save {label}
      </Anchor>
    );
  return (
    <Group gap={6} wrap="nowrap">
      <Text span aria-hidden>
        {icon}
      </Text>
      <Button size="compact-xs" variant="light" loading={state.loading} onClick={() => setWanted(true)} data-testid="media-load">
        {type === 'audio' ? (voice ? 'Play voice note' : 'Play') : type === 'video' ? 'Play video' : `Open ${label}`}
      </Button>
    </Group>
  );
}

function Interactive({ c, onReply, repliesDisabled }: { c: Obj; onReply?: BubbleProps['onReply']; repliesDisabled?: boolean }) {
  // Inbound replies
  if (c.buttonId !== undefined)
    return (
      <Stack gap={2}>
        <Text size="sm">{s(c.title)}</Text>
        <Text size="10px" c="dimmed">
          button reply
        </Text>
      </Stack>
    );
  if (c.listRowId !== undefined)
    return (
      <Stack gap={2}>
        <Text size="sm">{s(c.title)}</Text>
        {c.description != null && <Text size="xs" c="dimmed">{s(c.description)}</Text>}
        <Text size="10px" c="dimmed">
          list reply
        </Text>
      </Stack>
    );
  const header = s(c.header);
  const footer = s(c.footer);
  const body = (
    <>
      {header && (
        <Text size="sm" fw={700}>
          {header}
        </Text>
      )}
      <Text size="sm" className={classes.text}>
        {s(c.body)}
      </Text>
      {footer && (
        <Text size="xs" c="dimmed">
          {footer}
        </Text>
      )}
    </>
  );
  if (c.kind === 'buttons') {
    return (
      <Stack gap={4}>
        {body}
        <Stack gap={2} className={classes.actions}>
          {arr(c.buttons).map((b) => (
            <Button
              key={s(b.id)}
              variant="subtle"
              size="xs"
              fullWidth
              disabled={!onReply || repliesDisabled}
              onClick={() => onReply?.({ buttonId: s(b.id), title: s(b.title) })}
              className={classes.replyButton}
            >
              {s(b.title)}
            </Button>
          ))}
        </Stack>
      </Stack>
    );
  }
  if (c.kind === 'list') {
    return (
      <Stack gap={4}>
        {body}
        <Menu position="bottom" withinPortal disabled={!onReply || repliesDisabled}>
          <Menu.Target>
            <Button variant="subtle" size="xs" fullWidth className={classes.replyButton} disabled={!onReply || repliesDisabled}>
              ☰ {s(c.button) || 'Options'}
            </Button>
          </Menu.Target>
          <Menu.Dropdown>
            {arr(c.sections).map((sec, i) => (
              <div key={i}>
                {s(sec.title) && <Menu.Label>{s(sec.title)}</Menu.Label>}
                {arr(sec.rows).map((r) => (
                  <Menu.Item key={s(r.id)} onClick={() => onReply?.({ listRowId: s(r.id), title: s(r.title) })}>
                    <Text size="sm">{s(r.title)}</Text>
                    {r.description != null && (
                      <Text size="xs" c="dimmed">
                        {s(r.description)}
                      </Text>
                    )}
                  </Menu.Item>
                ))}
              </div>
            ))}
          </Menu.Dropdown>
        </Menu>
        {!onReply && (
          <Stack gap={0}>
            {arr(c.sections).flatMap((sec) => arr(sec.rows)).map((r) => (
              <Text key={s(r.id)} size="xs" c="dimmed">
                • {s(r.title)}
              </Text>
            ))}
          </Stack>
        )}
      </Stack>
    );
  }
  return <Text size="sm">{s(c.body) || JSON.stringify(c).slice(0, 200)}</Text>;
}
