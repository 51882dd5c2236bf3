// A small JSON-Schema-to-Mantine form renderer for the node types' `data` schemas.
import {
  ActionIcon,
  Button,
  Code,
  Combobox,
  Fieldset,
  Group,
  NumberInput,
  Select,
  Stack,
  Switch,
  TagsInput,
  Text,
  Textarea,
  TextInput,
  Tooltip,
  useCombobox,
} from '@mantine/core';
import { useRef, useState, type ReactNode } from 'react';

export interface JSONSchema {
  type?: string | string[];
  title?: string;
  description?: string;
  properties?: Record<string, JSONSchema>;
  required?: string[];
  items?: JSONSchema;
  enum?: (string | number)[];
  maxLength?: number;
  minLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minItems?: number;
  maxItems?: number;
  maxProperties?: number;
  additionalProperties?: boolean | JSONSchema;
  default?: unknown;
  pattern?: string;
  /** A form hint of the server's schemas: show this property only while each named sibling holds one of the
   * listed values (an answer type's own settings), or when it holds a value already. */
  'x-when'?: Record<string, unknown[]>;
}

type Obj = Record<string, unknown>;

export interface SchemaFormProps {
  schema: JSONSchema;
  value: Obj;
  onChange(value: Obj): void;
  /** Names offered by `{{` completion and variable fields. */
  variables?: string[];
  /** Node ids offered for `targetNodeId`. */
  nodeIds?: string[];
  /** Field paths to hide unless they hold a value (e.g. set_variable's single form). */
  hideUnlessSet?: string[];
}

export function SchemaForm({ schema, value, onChange, variables = [], nodeIds = [], hideUnlessSet = [] }: SchemaFormProps) {
  const ctx: Ctx = { variables, nodeIds, hideUnlessSet };
  return (
    <Stack gap="sm">
      <ObjectFields schema={schema} value={value} onChange={onChange} path="" ctx={ctx} />
    </Stack>
  );
}

interface Ctx {
  variables: string[];
  nodeIds: string[];
  hideUnlessSet: string[];
}

const types = (s: JSONSchema): string[] => (Array.isArray(s.type) ? s.type : s.type ? [s.type] : []);
const isTemplated = (s: JSONSchema) => /\{\{variables\}\}/.test(s.description ?? '');
const isEmpty = (v: unknown) => v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0);

export function lengthError(s: JSONSchema, v: string, required: boolean): string | null {
  if (s.maxLength !== undefined && v.length > s.maxLength) return `At most ${s.maxLength} characters (${v.length})`;
  if (required && !v) return 'Required';
  if (v && s.minLength !== undefined && v.length < s.minLength) return `At least ${s.minLength} characters`;
  if (v && s.pattern && !new RegExp(s.pattern).test(v)) return 'Letters, digits, _ and dots; starts with a letter or _';
  return null;
}

function ObjectFields({
  schema,
  value,
  onChange,
  path,
  ctx,
}: {
  schema: JSONSchema;
  value: Obj;
  onChange(v: Obj): void;
  path: string;
  ctx: Ctx;
}) {
  const required = new Set(schema.required ?? []);
  const entries = Object.entries(schema.properties ?? {});
  return (
    <>
      {entries.map(([key, sub]) => {
        const p = path ? `${path}.${key}` : key;
        if (ctx.hideUnlessSet.includes(p) && isEmpty(value[key])) return null;
        const when = sub['x-when'];
        if (when && isEmpty(value[key]) && !Object.entries(when).every(([k, allowed]) => allowed.includes(value[k]))) return null;
        const set = (v: unknown) => {
          const next = { ...value };
          if (v === undefined || (!required.has(key) && (v === '' || v === null))) delete next[key];
          else next[key] = v;
          onChange(next);
        };
        return <Field key={p} name={key} schema={sub} value={value[key]} onChange={set} required={required.has(key)} path={p} ctx={ctx} />;
      })}
    </>
  );
}

interface FieldProps {
  name: string;
  schema: JSONSchema;
  value: unknown;
  onChange(v: unknown): void;
  required: boolean;
  path: string;
  ctx: Ctx;
}

/** A schema description as shown: `names` in backticks (written for the API's readers) as code, not with the
 *  backticks themselves. */
export function schemaText(text: string | undefined, after = ''): ReactNode {
  const full = `${text ?? ''}${after}`.trim();
  if (!full) return undefined;
  const parts = full.split(/`([^`]+)`/);
  if (parts.length === 1) return full;
  return parts.map((part, i) => (i % 2 ? <Code key={i}>{part}</Code> : part));
}

function Field(props: FieldProps) {
  const { schema, value, onChange, required, path, ctx, name } = props;
  const t = types(schema);
  const label = schema.title ?? name;
  const description = schemaText(schema.description);

  if (schema.enum) {
    return (
      <Select
        label={label}
        description={description}
        withAsterisk={required}
        data={schema.enum.map(String)}
        value={value === undefined ? null : String(value)}
        onChange={(v) => onChange(v ?? undefined)}
        clearable={!required}
        allowDeselect={!required}
        comboboxProps={{ withinPortal: true }}
      />
    );
  }
  if (t.includes('object') && t.includes('array') && t.includes('string')) return <JsonOrText {...props} label={label} />;
  if (t[0] === 'object' && schema.properties) return <NestedObject {...props} label={label} />;
  if (t[0] === 'object' && schema.additionalProperties) return <KeyValue {...props} label={label} />;
  if (t[0] === 'array' && schema.items && types(schema.items)[0] === 'object') return <ObjectArray {...props} label={label} />;
  if (t[0] === 'array') {
    const items = Array.isArray(value) ? (value as unknown[]).map(String) : [];
    return (
      <TagsInput
        label={label}
        description={schemaText(schema.description, ' Press Enter after each.')}
        value={items}
        onChange={(v) => onChange(v)}
        maxTags={schema.maxItems}
        withAsterisk={required}
        aria-label={label}
      />
    );
  }
  if (t[0] === 'boolean') {
    return <Switch label={label} description={description} checked={value === true} onChange={(e) => onChange(e.currentTarget.checked)} />;
  }
  if (t[0] === 'number' || t[0] === 'integer') {
    return (
      <NumberInput
        label={label}
        description={description}
        withAsterisk={required}
        value={typeof value === 'number' ? value : ''}
        min={schema.minimum ?? (schema.exclusiveMinimum !== undefined ? schema.exclusiveMinimum : undefined)}
        max={schema.maximum}
        allowDecimal={t[0] === 'number'}
        placeholder={schema.default !== undefined ? String(schema.default) : undefined}
        onChange={(v) => onChange(v === '' ? undefined : typeof v === 'number' ? v : Number(v))}
        error={outOfRange(schema, value)}
      />
    );
  }
  // strings, and string-or-number / string-or-boolean values
  const text = value === undefined || value === null ? '' : String(value);
  const toValue = (s: string): unknown => {
    if (t.includes('number') && s.trim() !== '' && Number.isFinite(Number(s)) && typeof value === 'number') return Number(s);
    if (t.includes('boolean') && typeof value === 'boolean' && (s === 'true' || s === 'false')) return s === 'true';
    return s;
  };
  const isVariableField = name === 'variable' || name === 'statusVariable';
  if (name === 'targetNodeId' || (isVariableField && path.includes('rules'))) {
    const options = name === 'targetNodeId' ? ctx.nodeIds : ctx.variables;
    return (
      <SuggestInput
        label={label}
        description={description}
        required={required}
        value={text}
        options={options}
        error={lengthError(schema, text, required)}
        onChange={(s) => onChange(s)}
      />
    );
  }
  return (
    <TemplateText
      label={label}
      description={description}
      required={required}
      value={text}
      schema={schema}
      variables={isTemplated(schema) ? ctx.variables : []}
      onChange={(s) => onChange(toValue(s))}
    />
  );
}

function outOfRange(s: JSONSchema, v: unknown): string | null {
  if (typeof v !== 'number') return null;
  if (s.minimum !== undefined && v < s.minimum) return `At least ${s.minimum}`;
  if (s.exclusiveMinimum !== undefined && v <= s.exclusiveMinimum) return `More than ${s.exclusiveMinimum}`;
  if (s.maximum !== undefined && v > s.maximum) return `At most ${s.maximum}`;
  return null;
}

/** Counter like "12/20", red when over. */
export function Counter({ length, max }: { length: number; max: number }) {
  return (
    <Text size="xs" c={length > max ? 'red' : 'dimmed'} aria-live="polite" data-testid="counter">
      {length}/{max}
    </Text>
  );
}

/** A text field with a length counter and `{{variable}}` completion when the text before the caret is `{{…`. */
export function TemplateText({
  label,
  description,
  required,
  value,
  schema,
  variables,
  onChange,
}: {
  label: string;
  description?: ReactNode;
  required: boolean;
  value: string;
  schema: JSONSchema;
  variables: string[];
  onChange(v: string): void;
}) {
  const combobox = useCombobox();
  const ref = useRef<HTMLTextAreaElement & HTMLInputElement>(null);
  const [query, setQuery] = useState<string | null>(null);
  const multiline = (schema.maxLength ?? 0) > 100;
  const error = lengthError(schema, value, required);

  const detect = (text: string, caret: number) => {
    const m = /\{\{\s*([\w.]*)$/.exec(text.slice(0, caret));
    if (m && variables.length) {
      setQuery(m[1]);
      combobox.openDropdown();
    } else {
      setQuery(null);
      combobox.closeDropdown();
    }
  };
  const matches = query === null ? [] : variables.filter((v) => v.toLowerCase().includes(query.toLowerCase()));

  const insert = (name: string) => {
    const el = ref.current;
    const caret = el?.selectionStart ?? value.length;
    const before = value.slice(0, caret).replace(/\{\{\s*([\w.]*)$/, '');
    const after = value.slice(caret).replace(/^[\w.]*\s*\}\}/, '');
    onChange(`${before}{{${name}}}${after}`);
    setQuery(null);
    combobox.closeDropdown();
    requestAnimationFrame(() => el?.focus());
  };

  const common = {
    label,
    description,
    withAsterisk: required,
    value,
    error,
    inputWrapperOrder: ['label', 'description', 'input', 'error'] as ('label' | 'description' | 'input' | 'error')[],
    onChange: (e: React.ChangeEvent<HTMLInputElement | HTMLTextAreaElement>) => {
      onChange(e.currentTarget.value);
      detect(e.currentTarget.value, e.currentTarget.selectionStart ?? e.currentTarget.value.length);
    },
    onBlur: () => combobox.closeDropdown(),
  };
  const counter = schema.maxLength !== undefined ? <Counter length={value.length} max={schema.maxLength} /> : null;
  const hint: ReactNode = variables.length ? (
    <Text size="xs" c="dimmed">
      Type {'{{'} to insert a variable
    </Text>
  ) : null;

  return (
    <Combobox store={combobox} onOptionSubmit={insert} withinPortal>
      <Combobox.Target>
        {multiline ? (
          <Textarea ref={ref} autosize minRows={2} maxRows={8} {...common} />
        ) : (
          <TextInput ref={ref} {...common} />
        )}
      </Combobox.Target>
      <Group justify="space-between" mt={-6}>
        {hint}
        {counter}
      </Group>
      <Combobox.Dropdown hidden={matches.length === 0}>
        <Combobox.Options aria-label="Variables">
          {matches.map((v) => (
            <Combobox.Option value={v} key={v}>
              {`{{${v}}}`}
            </Combobox.Option>
          ))}
        </Combobox.Options>
      </Combobox.Dropdown>
    </Combobox>
  );
}

function SuggestInput({
  label,
  description,
  required,
  value,
  options,
  error,
  onChange,
}: {
  label: string;
  description?: ReactNode;
  required: boolean;
  value: string;
  options: string[];
  error: string | null;
  onChange(v: string): void;
}) {
  const combobox = useCombobox();
  const shown = options.filter((o) => o.toLowerCase().includes(value.toLowerCase()));
  return (
    <Combobox store={combobox} onOptionSubmit={(v) => (onChange(v), combobox.closeDropdown())} withinPortal>
      <Combobox.Target>
        <TextInput
          label={label}
          description={description}
          withAsterisk={required}
          value={value}
          error={error}
          onChange={(e) => {
            onChange(e.currentTarget.value);
            combobox.openDropdown();
          }}
          onFocus={() => combobox.openDropdown()}
          onBlur={() => combobox.closeDropdown()}
        />
      </Combobox.Target>
      <Combobox.Dropdown hidden={shown.length === 0}>
        <Combobox.Options>
          {shown.slice(0, 30).map((o) => (
            <Combobox.Option value={o} key={o}>
              {o}
            </Combobox.Option>
          ))}
        </Combobox.Options>
      </Combobox.Dropdown>
    </Combobox>
  );
}

function NestedObject({ schema, value, onChange, required, path, ctx, label }: FieldProps & { label: string }) {
  const present = value !== undefined && value !== null && typeof value === 'object';
  return (
    <Fieldset legend={label} variant="filled" p="xs">
      {!required && (
        <Switch
          mb="xs"
          label={present ? `Remove ${label.toLowerCase()}` : `Add ${label.toLowerCase()}`}
          checked={present}
          onChange={(e) => onChange(e.currentTarget.checked ? initialFor(schema) : undefined)}
        />
      )}
      {(present || required) && (
        <Stack gap="xs">
          <ObjectFields schema={schema} value={(value as Obj) ?? {}} onChange={onChange} path={path} ctx={ctx} />
        </Stack>
      )}
    </Fieldset>
  );
}

/** The smallest value that satisfies a schema's required fields (enums take their first option). */
export function initialFor(schema: JSONSchema): unknown {
  const t = types(schema)[0];
  if (schema.enum) return schema.enum[0];
  if (t === 'object') {
    const out: Obj = {};
    for (const key of schema.required ?? []) {
      const sub = schema.properties?.[key];
      if (sub) out[key] = initialFor(sub);
    }
    return out;
  }
  if (t === 'array') {
    const n = schema.minItems ?? 0;
    return Array.from({ length: n }, () => (schema.items ? initialFor(schema.items) : ''));
  }
  if (t === 'number' || t === 'integer') return schema.default ?? schema.minimum ?? 0;
  if (t === 'boolean') return false;
  return '';
}

function ObjectArray({ schema, value, onChange, path, ctx, label }: FieldProps & { label: string }) {
  const items = Array.isArray(value) ? (value as Obj[]) : [];
  const item = schema.items!;
  const max = schema.maxItems;
  const min = schema.minItems ?? 0;
  const update = (i: number, v: Obj) => onChange(items.map((x, j) => (j === i ? v : x)));
  const move = (i: number, d: number) => {
    const next = [...items];
    const [x] = next.splice(i, 1);
    next.splice(i + d, 0, x);
    onChange(next);
  };
  const singular = label.replace(/s$/, '').toLowerCase();
  return (
    <Fieldset
      legend={
        <Group gap={6}>
          <span>{label}</span>
          {max !== undefined && (
            <Text span size="xs" c="dimmed">
              {items.length}/{max}
            </Text>
          )}
        </Group>
      }
      p="xs"
    >
      <Stack gap="xs">
        {items.map((it, i) => (
          <Fieldset
            key={i}
            p="xs"
            variant="filled"
            legend={
              <Group gap={4}>
                <Text size="xs" fw={600}>
                  {singular} {i + 1}
                </Text>
                <Tooltip label="Move up">
                  <ActionIcon size="xs" variant="subtle" aria-label={`Move ${singular} ${i + 1} up`} disabled={i === 0} onClick={() => move(i, -1)}>
                    ↑
                  </ActionIcon>
                </Tooltip>
                <Tooltip label="Move down">
                  <ActionIcon
                    size="xs"
                    variant="subtle"
                    aria-label={`Move ${singular} ${i + 1} down`}
                    disabled={i === items.length - 1}
                    onClick={() => move(i, 1)}
                  >
                    ↓
                  </ActionIcon>
                </Tooltip>
                <Tooltip label="Remove">
                  <ActionIcon
                    size="xs"
                    variant="subtle"
                    color="red"
                    aria-label={`Remove ${singular} ${i + 1}`}
                    disabled={items.length <= min}
                    onClick={() => onChange(items.filter((_, j) => j !== i))}
                  >
                    ✕
                  </ActionIcon>
                </Tooltip>
              </Group>
            }
          >
            <Stack gap="xs">
              <ObjectFields schema={item} value={it ?? {}} onChange={(v) => update(i, v)} path={`${path}.${i}`} ctx={ctx} />
            </Stack>
          </Fieldset>
        ))}
        <Button
          size="xs"
          variant="light"
          disabled={max !== undefined && items.length >= max}
          onClick={() => onChange([...items, freshItem(item, items, path)])}
        >
          Add {singular}
        </Button>
      </Stack>
    </Fieldset>
  );
}

/** A new array item; ids get a unique default so a new button/row has its own handle. */
function freshItem(item: JSONSchema, items: Obj[], path: string): Obj {
  const base = initialFor(item) as Obj;
  if (item.properties?.id) {
    const stem = path.endsWith('buttons') ? 'button' : 'row';
    const taken = new Set(items.map((x) => String(x.id)));
    let n = items.length + 1;
    while (taken.has(`${stem}_${n}`)) n++;
    base.id = `${stem}_${n}`;
    if (item.properties.title) base.title = `Option ${n}`;
  }
  if (item.properties?.rows) {
    base.rows = [{ id: `row_${Date.now().toString(36)}`, title: 'New row' }];
  }
  return base;
}

function KeyValue({ value, onChange, schema, label }: FieldProps & { label: string }) {
  const entries = Object.entries((value as Record<string, string>) ?? {});
  const setEntries = (list: [string, string][]) => onChange(list.length ? Object.fromEntries(list) : undefined);
  return (
    <Fieldset legend={label} p="xs">
      <Stack gap="xs">
        {entries.map(([k, v], i) => (
          <Group key={i} gap="xs" wrap="nowrap">
            <TextInput
              aria-label={`${label} name ${i + 1}`}
              placeholder="Name"
              value={k}
              onChange={(e) => setEntries(entries.map((x, j) => (j === i ? [e.currentTarget.value, x[1]] : x)))}
            />
            <TextInput
              aria-label={`${label} value ${i + 1}`}
              placeholder="Value"
              value={v}
              onChange={(e) => setEntries(entries.map((x, j) => (j === i ? [x[0], e.currentTarget.value] : x)))}
            />
            <ActionIcon variant="subtle" color="red" aria-label={`Remove ${label} ${i + 1}`} onClick={() => setEntries(entries.filter((_, j) => j !== i))}>
              ✕
            </ActionIcon>
          </Group>
        ))}
        <Button
          size="xs"
          variant="light"
          disabled={schema.maxProperties !== undefined && entries.length >= schema.maxProperties}
          onClick={() => setEntries([...entries, [`X-Header-${entries.length + 1}`, '']])}
        >
          Add header
        </Button>
      </Stack>
    </Fieldset>
  );
}

function JsonOrText({ value, onChange, label, schema }: FieldProps & { label: string }) {
  const initial = typeof value === 'string' ? value : value === undefined ? '' : JSON.stringify(value, null, 2);
  const [text, setText] = useState(initial);
  const [asJson, setAsJson] = useState(value !== undefined && typeof value !== 'string');
  let error: string | null = null;
  if (asJson && text.trim()) {
    try {
      JSON.parse(text);
    } catch {
      error = 'Not valid JSON';
    }
  }
  const commit = (t: string, json: boolean) => {
    if (!t.trim()) return onChange(undefined);
    if (json) {
      try {
        onChange(JSON.parse(t));
      } catch {
        /* keep the last valid value */
      }
    } else onChange(t);
  };
  return (
    <Stack gap={4}>
      <Textarea
        label={label}
        description={schemaText(schema.description)}
        autosize
        minRows={2}
        value={text}
        error={error}
        styles={{ input: { fontFamily: 'monospace' } }}
        onChange={(e) => {
          setText(e.currentTarget.value);
          commit(e.currentTarget.value, asJson);
        }}
      />
      <Switch
        size="xs"
        label="Send as JSON"
        checked={asJson}
        onChange={(e) => {
          setAsJson(e.currentTarget.checked);
          commit(text, e.currentTarget.checked);
        }}
      />
    </Stack>
  );
}
