/**
 * What Go's encoding/json says of a body that is not JSON, so a broken request gets the 400
 * Ollama (gin's ShouldBindJSON) answers: "unexpected EOF" when the text stops early, else
 * "invalid character 'x' <where>" in the words of Go's scanner. Pure.
 */

/**
 * The first JSON value of the text, as json.Decoder.Decode reads it (what follows is left
 * unread, so trailing text is no error), or Go's words for why there is none.
 */
export function decodeGoJson(text: string): { value: unknown } | { error: string } {
  try {
    const end = new Scanner(text).firstValue();
    return { value: JSON.parse(text.slice(0, end)) };
  } catch (err) {
    if (err instanceof GoSyntaxError) return { error: err.message };
    throw err;
  }
}

class GoSyntaxError extends Error {}

/** Go's quoteChar: 'x', '\'', '"', '\n', '\x01'. */
function quoteChar(c: string): string {
  if (c === "'") return `'\\''`;
  if (c === '"') return `'"'`;
  const quoted = JSON.stringify(c).slice(1, -1);
  const go = /^\\u00([0-9a-f]{2})$/i.test(quoted) ? `\\x${quoted.slice(4)}` : quoted;
  return `'${go}'`;
}

class Scanner {
  private i = 0;

  constructor(private readonly text: string) {}

  /** Where the first value ends. */
  firstValue(): number {
    this.space();
    this.value();
    return this.i;
  }

  private fail(where: string): never {
    if (this.i >= this.text.length) throw new GoSyntaxError('unexpected EOF');
    throw new GoSyntaxError(`invalid character ${quoteChar(this.text[this.i] as string)} ${where}`);
  }

  private peek(): string | undefined {
    return this.text[this.i];
  }

  private space(): void {
    while (/[ \t\r\n]/.test(this.peek() ?? '')) this.i++;
  }

  private value(): void {
    const c = this.peek() ?? '';
    if (c === '{') this.object();
    else if (c === '[') this.array();
    else if (c === '"') this.string();
    else if (c === '-' || /[0-9]/.test(c)) this.number();
    else if (c === 't') this.literal('true');
    else if (c === 'f') this.literal('false');
    else if (c === 'n') this.literal('null');
    else this.fail('looking for beginning of value');
  }

  private object(): void {
    this.i++;
    this.space();
    if (this.peek() === '}') {
      this.i++;
      return;
    }
    for (;;) {
      this.space();
      if (this.peek() !== '"') this.fail('looking for beginning of object key string');
      this.string();
      this.space();
      if (this.peek() !== ':') this.fail('after object key');
      this.i++;
      this.space();
      this.value();
      this.space();
      if (this.peek() === ',') {
        this.i++;
        continue;
      }
      if (this.peek() === '}') {
        this.i++;
        return;
      }
      this.fail('after object key:value pair');
    }
  }

  private array(): void {
    this.i++;
    this.space();
    if (this.peek() === ']') {
      this.i++;
      return;
    }
    for (;;) {
      this.space();
      this.value();
      this.space();
      if (this.peek() === ',') {
        this.i++;
        continue;
      }
      if (this.peek() === ']') {
        this.i++;
        return;
      }
      this.fail('after array element');
    }
  }

  private string(): void {
    this.i++;
    for (;;) {
      const c = this.peek();
      if (c === undefined) this.fail('in string literal');
      if (c === '"') {
        this.i++;
        return;
      }
      if (c < ' ') this.fail('in string literal');
      this.i++;
      if (c === '\\') {
        const e = this.peek();
        if (e !== undefined && '"\\/bfnrt'.includes(e)) this.i++;
        else if (e === 'u') {
          this.i++;
          for (let k = 0; k < 4; k++) {
            if (!/[0-9a-fA-F]/.test(this.peek() ?? ''))
              this.fail('in \\u hexadecimal character escape');
            this.i++;
          }
        } else this.fail('in string escape code');
      }
    }
  }

  private number(): void {
    if (this.peek() === '-') {
      this.i++;
      if (!/[0-9]/.test(this.peek() ?? '')) this.fail('in numeric literal');
    }
    if (this.peek() === '0') this.i++;
    else while (/[0-9]/.test(this.peek() ?? '')) this.i++;
    if (this.peek() === '.') {
      this.i++;
      if (!/[0-9]/.test(this.peek() ?? '')) this.fail('after decimal point in numeric literal');
      while (/[0-9]/.test(this.peek() ?? '')) this.i++;
    }
    if (this.peek() === 'e' || this.peek() === 'E') {
      this.i++;
      if (this.peek() === '+' || this.peek() === '-') this.i++;
      if (!/[0-9]/.test(this.peek() ?? '')) this.fail('in exponent of numeric literal');
      while (/[0-9]/.test(this.peek() ?? '')) this.i++;
    }
  }

  private literal(word: string): void {
    for (let k = 0; k < word.length; k++) {
      if (this.peek() !== word[k]) {
        this.fail(`in literal ${word} (expecting ${quoteChar(word[k] as string)})`);
      }
      this.i++;
    }
  }
}
