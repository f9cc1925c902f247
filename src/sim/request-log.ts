/**
 * The last request bodies the simulator received, oldest first, exactly as they came (parsed
 * JSON, or the raw text when it was not JSON): GET /sim/requests lets a test see what a proxy
 * in front of the simulator really forwarded, unknown fields included.
 */
export interface LoggedRequest {
  path: string;
  body: unknown;
}

export class RequestLog {
  private readonly entries: LoggedRequest[] = [];

  constructor(private readonly capacity = 100) {}

  add(path: string, body: unknown): void {
    this.entries.push({ path, body });
    if (this.entries.length > this.capacity)
      this.entries.splice(0, this.entries.length - this.capacity);
  }

  list(): LoggedRequest[] {
    return [...this.entries];
  }
}
