/**
 * Reads the few expression shapes the invalidation plan relies on out of EXPLAIN VERBOSE text
 * (which prints expressions as SQL, columns as `alias.column` with the plan's unique aliases).
 * Anything else is not understood and yields nothing, which can only make a plan coarser.
 */

/** A column of a relation in the plan: `alias.column`. */
export interface ColumnRef {
  readonly alias: string;
  readonly column: string;
}

type Token =
  | { readonly kind: 'name'; readonly text: string; readonly quoted: boolean }
  | { readonly kind: 'symbol'; readonly text: string };

const PLAIN_NAME = /[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*/y;
const NUMBER = /[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?/y;
const OPERATOR = /[+\-*/<>=~!@#%^&|`?]+/y;

/** The tokens of an expression, or undefined when it holds something this reader does not know. */
function tokenize(text: string): Token[] | undefined {
  const tokens: Token[] = [];
  let at = 0;
  while (at < text.length) {
    const char = text[at] as string;
    if (/\s/.test(char)) {
      at++;
    } else if (char === '"') {
      let name = '';
      let end = at + 1;
      for (;;) {
        const close = text.indexOf('"', end);
        if (close === -1) return undefined;
        name += text.slice(end, close);
        if (text[close + 1] === '"') {
          name += '"';
          end = close + 2;
        } else {
          end = close + 1;
          break;
        }
      }
      tokens.push({ kind: 'name', text: name, quoted: true });
      at = end;
    } else if (char === "'") {
      // A string literal: its content never matters here, only where it ends.
      let end = at + 1;
      for (;;) {
        const close = text.indexOf("'", end);
        if (close === -1) return undefined;
        if (text[close + 1] === "'") end = close + 2;
        else {
          end = close + 1;
          break;
        }
      }
      tokens.push({ kind: 'symbol', text: 'literal' });
      at = end;
    } else if ('().,[]:;'.includes(char)) {
      if (char === ':' && text[at + 1] === ':') {
        tokens.push({ kind: 'symbol', text: '::' });
        at += 2;
      } else {
        tokens.push({ kind: 'symbol', text: char });
        at++;
      }
    } else {
      const matched = [PLAIN_NAME, NUMBER, OPERATOR].find((pattern) => {
        pattern.lastIndex = at;
        return pattern.test(text);
      });
      if (matched === undefined) return undefined;
      const end = matched.lastIndex;
      const word = text.slice(at, end);
      tokens.push(matched === PLAIN_NAME ? { kind: 'name', text: word, quoted: false } : { kind: 'symbol', text: word });
      at = end;
    }
  }
  return tokens;
}

/** Whether the first token opens a parenthesis that the last one closes. */
function enclosed(tokens: readonly Token[]): boolean {
  if (tokens[0]?.text !== '(' || tokens[tokens.length - 1]?.text !== ')') return false;
  let depth = 0;
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i] as Token;
    if (token.kind !== 'symbol') continue;
    if (token.text === '(') depth++;
    else if (token.text === ')' && --depth === 0 && i < tokens.length - 1) return false;
  }
  return true;
}

function unwrap(tokens: readonly Token[]): readonly Token[] {
  let inner = tokens;
  while (enclosed(inner)) inner = inner.slice(1, -1);
  return inner;
}

const isKeyword = (token: Token | undefined, word: string) => token?.kind === 'name' && !token.quoted && token.text.toUpperCase() === word;

/** The conjuncts of a condition (`(a AND (b AND c))` gives a, b, c); a disjunction is one opaque conjunct. */
function conjuncts(tokens: readonly Token[]): (readonly Token[])[] {
  const inner = unwrap(tokens);
  const parts: Token[][] = [[]];
  let depth = 0;
  let disjunction = false;
  for (const token of inner) {
    if (token.kind === 'symbol' && token.text === '(') depth++;
    if (token.kind === 'symbol' && token.text === ')') depth--;
    if (depth === 0 && isKeyword(token, 'OR')) disjunction = true;
    if (depth === 0 && isKeyword(token, 'AND')) parts.push([]);
    else parts[parts.length - 1]!.push(token);
  }
  // AND binds tighter than OR: with an OR at this level nothing here holds on its own.
  if (disjunction) return [];
  if (parts.length === 1) return [inner];
  return parts.flatMap((part) => conjuncts(part));
}

function columnRefAt(tokens: readonly Token[], at: number): ColumnRef | undefined {
  const [alias, dot, column] = [tokens[at], tokens[at + 1], tokens[at + 2]];
  if (alias?.kind !== 'name' || dot?.text !== '.' || dot.kind !== 'symbol' || column?.kind !== 'name') return undefined;
  return { alias: alias.text, column: column.text };
}

/** `alias.column` (maybe parenthesized), or undefined for any other expression. */
export function parseColumnRef(text: string): ColumnRef | undefined {
  const tokens = tokenize(text);
  if (tokens === undefined) return undefined;
  const inner = unwrap(tokens);
  return inner.length === 3 ? columnRefAt(inner, 0) : undefined;
}

/**
 * The column equalities `a.x = b.y` among a condition's AND-ed conjuncts. Casts, functions,
 * other operators and disjunctions are skipped: a plan built without them is coarser, not wrong.
 */
export function columnEqualities(condition: string): [ColumnRef, ColumnRef][] {
  const tokens = tokenize(condition);
  if (tokens === undefined) return [];
  const equalities: [ColumnRef, ColumnRef][] = [];
  for (const conjunct of conjuncts(tokens)) {
    const inner = unwrap(conjunct);
    if (inner.length !== 7 || inner[3]?.kind !== 'symbol' || inner[3].text !== '=') continue;
    const left = columnRefAt(inner, 0);
    const right = columnRefAt(inner, 4);
    if (left !== undefined && right !== undefined) equalities.push([left, right]);
  }
  return equalities;
}
