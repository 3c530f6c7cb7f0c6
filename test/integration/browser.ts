/**
 * A headless Chromium driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`:
 * JSON messages ending in NUL on file descriptors 3 and 4), so the browser tests need no
 * package and no port: open a page, evaluate script in it, take a screenshot.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';

/** The Chromium executable on this machine, or null (Debian's `chromium` package). */
export function findChromium(): string | null {
  for (const name of [process.env['CHROMIUM'], 'chromium', 'chromium-browser', 'google-chrome']) {
    if (!name) continue;
    const found = spawnSync('sh', ['-c', 'command -v "$0"', name], { encoding: 'utf8' });
    if (found.status === 0 && found.stdout.trim()) return found.stdout.trim();
  }
  return null;
}

interface Pending {
  resolve(result: Record<string, unknown>): void;
  reject(error: Error): void;
}

export class Browser {
  private readonly child: ChildProcess;
  private readonly profile: string;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private buffered = '';
  private exited = false;

  private constructor(executable: string, width: number, height: number) {
    this.profile = mkdtempSync(path.join(tmpdir(), 'flotilla-chromium-'));
    const args = [
      '--headless=new', '--remote-debugging-pipe', '--no-first-run', '--no-default-browser-check', '--disable-gpu',
      '--disable-dev-shm-usage', '--disable-extensions', '--disable-background-networking', '--hide-scrollbars',
      `--window-size=${width},${height}`, `--user-data-dir=${this.profile}`,
      // As root (CI containers) Chromium refuses to start with its sandbox.
      ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
      'about:blank',
    ];
    this.child = spawn(executable, args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
    this.child.stderr!.resume();
    (this.child.stdio[4] as Readable).on('data', (chunk: Buffer) => this.receive(chunk));
    this.child.on('exit', () => {
      this.exited = true;
      for (const waiting of this.pending.values()) waiting.reject(new Error('chromium exited'));
      this.pending.clear();
    });
  }

  static async launch(executable: string, width = 1280, height = 1600): Promise<Browser> {
    const browser = new Browser(executable, width, height);
    await browser.send('Browser.getVersion');
    return browser;
  }

  /** One DevTools command; `sessionId` addresses a page attached with flatten. */
  send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, unknown>> {
    if (this.exited) return Promise.reject(new Error('chromium exited'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      (this.child.stdio[3] as Writable).write(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }) + '\0');
    });
  }

  /** Opens `url` in a new page and returns it. */
  async open(url: string): Promise<Page> {
    const { targetId } = (await this.send('Target.createTarget', { url })) as { targetId: string };
    const { sessionId } = (await this.send('Target.attachToTarget', { targetId, flatten: true })) as { sessionId: string };
    return new Page(this, sessionId);
  }

  async close(): Promise<void> {
    if (!this.exited) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      await this.send('Browser.close').catch(() => undefined);
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.profile, { recursive: true, force: true });
  }

  private receive(chunk: Buffer): void {
    this.buffered += chunk.toString('utf8');
    let end: number;
    while ((end = this.buffered.indexOf('\0')) >= 0) {
      const message = JSON.parse(this.buffered.slice(0, end)) as { id?: number; result?: Record<string, unknown>; error?: { message: string } };
      this.buffered = this.buffered.slice(end + 1);
      const waiting = message.id === undefined ? undefined : this.pending.get(message.id);
      if (!waiting) continue; // an event
      this.pending.delete(message.id!);
      if (message.error) waiting.reject(new Error(message.error.message));
      else waiting.resolve(message.result ?? {});
    }
  }
}

export class Page {
  constructor(
    private readonly browser: Browser,
    private readonly sessionId: string,
  ) {}

  /** The value of `expression` (JSON-serialisable) evaluated in the page. */
  async evaluate<T>(expression: string): Promise<T> {
    const answer = (await this.browser.send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true }, this.sessionId)) as {
      result: { value?: T };
      exceptionDetails?: { text: string; exception?: { description?: string } };
    };
    if (answer.exceptionDetails) throw new Error(`in the page: ${answer.exceptionDetails.exception?.description ?? answer.exceptionDetails.text}`);
    return answer.result.value as T;
  }

  /** A PNG of the whole page. */
  async screenshot(): Promise<Buffer> {
    const { data } = (await this.browser.send('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true }, this.sessionId)) as { data: string };
    return Buffer.from(data, 'base64');
  }
}
