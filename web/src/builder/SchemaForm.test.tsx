import { fireEvent, screen, within } from '@testing-library/react';
import { useState } from 'react';
import { describe, expect, it, vi } from 'vitest';
import schemas from './nodeSchemas.fallback.json';
import { initialFor, SchemaForm, schemaText, type JSONSchema } from './SchemaForm';
import { renderUI } from '../test/render';

function Harness({ schema, initial, onValue }: { schema: JSONSchema; initial: Record<string, unknown>; onValue?: (v: unknown) => void }) {
  const [value, setValue] = useState(initial);
  return (
    <SchemaForm
      schema={schema}
      value={value}
      variables={['name', 'contact.name', 'order.total']}
      onChange={(v) => {
        setValue(v);
        onValue?.(v);
      }}
    />
  );
}

const S = schemas as unknown as Record<string, JSONSchema>;

describe('SchemaForm', () => {
  it('shows a length counter and an error past maxLength', () => {
    renderUI(<Harness schema={S.buttons} initial={{ text: 'Hi', buttons: [{ id: 'a', title: 'Short' }] }} />);
    const title = screen.getByLabelText(/^Title/);
    expect(screen.getAllByTestId('counter').map((c) => c.textContent)).toContain('5/20');
    fireEvent.change(title, { target: { value: 'This title is far too long' } });
    expect(screen.getByText('At most 20 characters (26)')).toBeInTheDocument();
    expect(screen.getAllByTestId('counter').map((c) => c.textContent)).toContain('26/20');
  });

  it('adds array items up to maxItems, with unique ids', () => {
    const onValue = vi.fn();
    renderUI(<Harness schema={S.buttons} initial={{ text: 'Hi', buttons: [{ id: 'a', title: 'A' }] }} onValue={onValue} />);
    const add = screen.getByRole('button', { name: 'Add button' });
    fireEvent.click(add);
    fireEvent.click(add);
    expect(screen.getByText('3/3')).toBeInTheDocument();
    expect(add).toBeDisabled();
    const last = onValue.mock.calls.at(-1)![0] as { buttons: { id: string }[] };
    expect(new Set(last.buttons.map((b) => b.id)).size).toBe(3);
  });

  it('does not remove below minItems', () => {
    renderUI(<Harness schema={S.buttons} initial={{ text: 'Hi', buttons: [{ id: 'a', title: 'A' }] }} />);
    expect(screen.getByRole('button', { name: 'Remove button 1' })).toBeDisabled();
  });

  it('renders enums as selects, numbers with ranges, nested objects and booleans', () => {
    renderUI(<Harness schema={S.question} initial={{ text: 'How many?', variable: 'qty', validation: { type: 'number', min: 1 }, maxRetries: 12 }} />);
    expect(screen.getByRole('textbox', { name: /Answer type/ })).toHaveValue('number');
    expect(screen.getByText('At most 10')).toBeInTheDocument(); // maxRetries maximum
    expect(screen.getByText('Validation')).toBeInTheDocument(); // nested fieldset legend
  });

  it("shows an answer type's own settings only (x-when), and any setting that holds a value", () => {
    const { unmount } = renderUI(<Harness schema={S.question} initial={{ text: 'Size?', variable: 's', validation: { type: 'text' } }} />);
    expect(screen.getByText('Minimum length')).toBeInTheDocument();
    for (const other of ['Options', 'Pattern', 'Minimum', 'Whole numbers only']) expect(screen.queryByText(other)).toBeNull();
    unmount();
    renderUI(<Harness schema={S.question} initial={{ text: 'Size?', variable: 's', validation: { type: 'options', options: ['S'], pattern: 'x' } }} />);
    expect(screen.getByText('Options')).toBeInTheDocument();
    expect(screen.getByText('Pattern')).toBeInTheDocument(); // set earlier: still shown, so it can be removed
    expect(screen.queryByText('Minimum length')).toBeNull();
  });

  it('drops an emptied optional field instead of storing ""', () => {
    const onValue = vi.fn();
    renderUI(<Harness schema={S.buttons} initial={{ text: 'Hi', footer: 'f', buttons: [{ id: 'a', title: 'A' }] }} onValue={onValue} />);
    fireEvent.change(screen.getByLabelText(/^Footer/), { target: { value: '' } });
    expect(onValue.mock.calls.at(-1)![0]).not.toHaveProperty('footer');
  });

  it('flags a variable name that breaks the pattern', () => {
    renderUI(<Harness schema={S.question} initial={{ text: 'Q', variable: '1abc', validation: { type: 'text' } }} />);
    expect(screen.getByText(/Letters, digits/)).toBeInTheDocument();
  });

  it('offers {{variable}} completion and inserts the chosen name', async () => {
    const onValue = vi.fn();
    renderUI(<Harness schema={S.message} initial={{ text: '' }} onValue={onValue} />);
    const text = screen.getByLabelText(/^Text/) as HTMLTextAreaElement;
    fireEvent.change(text, { target: { value: 'Hello {{con', selectionStart: 11 } });
    const list = await screen.findByRole('listbox');
    const option = within(list).getByText('{{contact.name}}');
    fireEvent.click(option);
    expect(onValue.mock.calls.at(-1)![0]).toEqual({ text: 'Hello {{contact.name}}' });
  });

  it('builds the smallest valid initial value of a schema', () => {
    expect(initialFor(S.condition.properties!.rules.items!)).toEqual({ variable: '', operator: 'equals' });
    expect(initialFor(S.list.properties!.sections.items!)).toEqual({ rows: [{ id: '', title: '' }] });
  });
});

describe('schemaText', () => {
  it('shows `names` as code, without the backticks', () => {
    renderUI(<p data-testid="d">{schemaText('After `maxRetries` wrong answers, follow `gave_up`.')}</p>);
    const text = screen.getByTestId('d');
    expect(text.textContent).toBe('After maxRetries wrong answers, follow gave_up.');
    expect(within(text).getByText('gave_up').tagName).toBe('CODE');
    expect(schemaText(undefined)).toBeUndefined();
    expect(schemaText('', ' Press Enter after each.')).toBe('Press Enter after each.');
  });
});
