import { fireEvent, screen, waitFor } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { renderUI } from '../test/render';
import { MessageBubble, type Status } from './MessageBubble';

const cases: [string, unknown, RegExp][] = [
  ['text', { body: 'Hello there' }, /Hello there/],
  ['image', { url: 'https://x.test/cat.jpg', caption: 'A cat' }, /A cat/],
  ['video', { url: 'https://x.test/v.mp4', caption: 'Clip' }, /Clip/],
  ['audio', { id: 'media-1', mimeType: 'audio/ogg' }, /audio/i],
  ['document', { url: 'https://x.test/menu.pdf', filename: 'menu.pdf' }, /menu\.pdf/],
  ['sticker', { id: 'st-1' }, /sticker/i],
  ['interactive', { buttonId: 'order', title: 'Order a pizza' }, /Order a pizza/],
  ['interactive', { listRowId: 'margherita', title: 'Margherita', description: 'Tomato' }, /Margherita/],
  ['interactive', { kind: 'buttons', body: 'Pick', header: 'Menu', footer: 'Bye', buttons: [{ id: 'a', title: 'Alpha' }] }, /Alpha/],
  ['interactive', { kind: 'list', body: 'Choose a pizza', button: 'See pizzas', sections: [{ title: 'S', rows: [{ id: 'r', title: 'Row' }] }] }, /See pizzas/],
  ['button', { buttonId: 'yes', title: 'Yes please' }, /Yes please/],
  ['reaction', { messageId: 'wamid.1', emoji: '👍' }, /👍/],
  ['location', { latitude: 52.5, longitude: 13.4, name: 'Office', address: 'Main St 1' }, /Office/],
  ['contacts', { contacts: [{ name: { formatted_name: 'Bob Smith' }, phones: [{ phone: '+4912345' }] }] }, /Bob Smith/],
  ['template', { name: 'order_update', language: 'en_US', bodyParameters: ['42'] }, /order_update/],
  ['unsupported', { originalType: 'poll', errors: [], raw: {} }, /Unsupported message \(poll\)/],
  ['order', { catalogId: 'c1', text: 'for tonight', productItems: [{ product_retailer_id: 'SKU-9', quantity: 2, item_price: 12.5, currency: 'EUR' }, { product_retailer_id: 'SKU-1', quantity: 1 }] }, /Order · 3 items/],
  ['order', { catalogId: 'c1', productItems: [{ product_retailer_id: 'SKU-9', quantity: 2, item_price: 12.5, currency: 'EUR' }] }, /2 × SKU-9 · 12.5 EUR/],
  ['system', { kind: 'request_welcome' }, /Opened the chat for the first time/],
  ['system', { kind: 'user_changed_number', body: 'Kim changed their number' }, /Kim changed their number/],
  ['system', { kind: 'revoke', originalMessageId: 'wamid.1' }, /Deleted this message/],
  ['system', { kind: 'edit', originalMessageId: 'wamid.1', message: { type: 'text', content: { body: '3 please' } } }, /Edited this message to: 3 please/],
];

describe('MessageBubble', () => {
  it.each(cases)('renders a %s message', (type, content, text) => {
    renderUI(<MessageBubble type={type} content={content} direction="inbound" />);
    expect(screen.getAllByText(text).length).toBeGreaterThan(0);
  });

  it('marks a forwarded message and names the product a question is about', () => {
    renderUI(<MessageBubble type="text" content={{ body: 'In stock?', forwarded: true, frequentlyForwarded: true, referredProduct: { catalogId: 'C', productRetailerId: 'SKU9' } }} direction="inbound" />);
    expect(screen.getByText(/Forwarded many times/)).toBeInTheDocument();
    expect(screen.getByTestId('referred-product')).toHaveTextContent('About product SKU9');
  });

  it('renders an unknown type without crashing', () => {
    renderUI(<MessageBubble type="hologram" content={{ body: 'beam' }} direction="inbound" />);
    expect(screen.getByText(/hologram/)).toBeInTheDocument();
  });

  it.each([
    ['pending', 'Pending'],
    ['sent', 'Sent'],
    ['delivered', 'Delivered'],
    ['read', 'Read'],
    ['played', 'Played'],
  ])('shows the %s tick on outbound messages', (status, label) => {
    renderUI(<MessageBubble type="text" content={{ body: 'x' }} direction="outbound" status={status as Status} />);
    expect(screen.getByLabelText(label)).toHaveAttribute('data-status', status);
  });

  it('shows why a message failed', () => {
    renderUI(
      <MessageBubble type="text" content={{ body: 'x' }} direction="outbound" status="failed" error={{ code: 131047, title: 'Re-engagement message' }} />,
    );
    expect(screen.getByText(/Failed: Re-engagement message/)).toBeInTheDocument();
  });

  it('has no ticks on inbound messages', () => {
    renderUI(<MessageBubble type="text" content={{ body: 'x' }} direction="inbound" status="read" />);
    expect(screen.queryByLabelText('Read')).toBeNull();
  });

  it('says whether the bot or an operator wrote an outbound message', () => {
    renderUI(
      <>
        <MessageBubble type="text" content={{ body: 'from the flow' }} direction="outbound" sentBy="bot" />
        <MessageBubble type="text" content={{ body: 'from a person' }} direction="outbound" sentBy="operator" />
        <MessageBubble type="text" content={{ body: 'from the customer' }} direction="inbound" sentBy="customer" />
        <MessageBubble type="text" content={{ body: 'older' }} direction="outbound" sentBy={null} />
      </>,
    );
    expect(screen.getAllByTestId('sent-by').map((e) => e.textContent)).toEqual(['Bot', 'Operator']);
  });

  it('opens a photo full size on a click, and Escape closes it', async () => {
    renderUI(<MessageBubble type="image" content={{ url: 'https://x.test/cat.jpg', caption: 'A cat' }} direction="inbound" />);
    expect(screen.queryByRole('dialog')).toBeNull();
    fireEvent.click(screen.getByRole('button', { name: 'Open the photo full size' }));
    const dialog = await screen.findByRole('dialog');
    expect(dialog).toHaveTextContent('A cat');
    expect(screen.getByTestId('media-image-full')).toHaveAttribute('src', 'https://x.test/cat.jpg');
    expect(screen.getByRole('link', { name: 'Open in a new tab' })).toHaveAttribute('href', 'https://x.test/cat.jpg');
    fireEvent.keyDown(document.activeElement ?? document.body, { key: 'Escape' });
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
  });

  it('makes reply buttons clickable when asked', () => {
    const onReply = vi.fn();
    renderUI(
      <MessageBubble type="interactive" content={{ kind: 'buttons', body: 'Pick', buttons: [{ id: 'a', title: 'Alpha' }] }} direction="outbound" onReply={onReply} />,
    );
    fireEvent.click(screen.getByRole('button', { name: 'Alpha' }));
    expect(onReply).toHaveBeenCalledWith({ buttonId: 'a', title: 'Alpha' });
  });
});
