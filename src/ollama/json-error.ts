/**
 * Ollama's words for a body that is not JSON: Go's encoding/json errors, e.g. `invalid
 * character 'x' looking for beginning of value` or `unexpected EOF`. Close enough to match
 * what clients see from Ollama for the usual mistakes (a stray character, a cut-off body).
 */
export function goJsonError(text: string): string {
  const body = text.trim();
  if (body === '') return 'missing request body';
  const first = body[0] as string;
  if (!'{["-0123456789tfn'.includes(first)) {
    return `invalid character '${first}' looking for beginning of value`;
  }
  try {
    JSON.parse(body);
    return 'invalid request body';
  } catch (err) {
    const message = (err as Error).message;
    const token = /Unexpected token '(.)'/.exec(message);
    if (token) return `invalid character '${token[1]}' looking for beginning of value`;
    if (/end of JSON|Unterminated|Unexpected end/i.test(message)) return 'unexpected EOF';
    const at = /position (\d+)/.exec(message);
    const bad = at ? body[Number(at[1])] : undefined;
    if (bad === undefined) return 'unexpected EOF';
    const after = /after property name/.test(message)
      ? 'after object key'
      : /after property value/.test(message)
        ? 'after object key:value pair'
        : /after array element/.test(message)
          ? 'after array element'
          : /non-whitespace character after JSON/.test(message)
            ? 'after top-level value'
            : 'looking for beginning of value';
    return `invalid character '${bad}' ${after}`;
  }
}
