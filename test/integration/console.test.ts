/**
 * The web console (SPEC section 10, `GET /`) on a real 3-broker cluster during a produce
 * run: its data endpoint, and the page in headless Chromium — the brokers, the topic with
 * its partitions and leaders, a consumer group with its lag, non-zero rates — then a broker
 * killed and shown down. Verdicts wait for what is on screen; a screenshot is kept.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import type { Client } from '../../client/index.js';
import type { ConsoleDocument } from '../../broker/ops/console.js';
import { Browser, findChromium, type Page } from './browser.js';
import { startCluster, waitFor } from './cluster.js';

const TOPIC = 'orders';
const PARTITIONS = 6;
/** A group id is any string: this one would be markup if the page did not escape it. */
const GROUP = 'billing <b id="injected">&</b>';
const SCREEN_TIMEOUT_MS = 60_000;

async function clusterWithHttp(t: Test) {
  const started = await startCluster(t, { brokers: 3, http: true });
  return { ...started, url: (id: number) => `http://${started.cluster.brokers.get(id)!.httpAddress!}` };
}

/** Produces until stopped; resolves with the number of records acknowledged. */
function produceUntil(client: Client, stopped: () => boolean): Promise<number> {
  const producer = client.producer({ acks: 'all' });
  return (async () => {
    let acked = 0;
    while (!stopped()) {
      const sends = Array.from({ length: 50 }, (_, i) => producer.send({ topic: TOPIC, key: `k${acked + i}`, value: `record ${acked + i}` }));
      acked += (await Promise.all(sends)).length;
    }
    await producer.close();
    return acked;
  })();
}

/** Waits until the page shows what `check` looks for; returns its answer. */
function onScreen<T>(page: Page, what: string, check: string): Promise<T> {
  return waitFor(what, () => page.evaluate<T | null>(check), SCREEN_TIMEOUT_MS, 250);
}

async function consoleDocument(url: string): Promise<ConsoleDocument> {
  const response = await fetch(`${url}/v1/console`);
  if (response.status !== 200) throw new Error(`GET /v1/console answered ${response.status}`);
  return (await response.json()) as ConsoleDocument;
}

const chromium = findChromium();

t.test('the web console during a produce run, in headless Chromium', { skip: chromium ? false : 'chromium is not installed (apt-get install chromium): the browser test of the web console is skipped' }, async (t) => {
  const { cluster, client, url } = await clusterWithHttp(t);
  await client.admin().createTopic({ topic: TOPIC, partitions: PARTITIONS, replicationFactor: 3 });
  let stopped = false;
  const producing = produceUntil(client, () => stopped);
  t.teardown(async () => {
    stopped = true;
    await producing.catch(() => undefined);
  });

  // A member that has read and committed some records and then reads no more: lag grows.
  const consumer = client.consumer({ groupId: GROUP });
  t.teardown(() => consumer.close());
  await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
  const messages = consumer[Symbol.asyncIterator]();
  for (let i = 0; i < 100; i++) await messages.next();
  await consumer.commit();

  // The data endpoint, from a broker that may not be the controller: the whole cluster.
  const doc = await waitFor('the console data with rates and lag', async () => {
    const d = await consoleDocument(url(2));
    const producedRecently = d.rates.total.producedRecords.some((r) => r > 0);
    const group = d.groups.find((g) => g.id === GROUP);
    return producedRecently && group && group.lag > 0 && d.topics[0]?.partitions.every((p) => p.leader !== null) ? d : null;
  }, SCREEN_TIMEOUT_MS, 250);
  t.same(doc.brokers.map((b) => [b.id, b.up]), [[1, true], [2, true], [3, true]]);
  t.equal(doc.brokers.filter((b) => b.controller).length, 1, 'one controller leader');
  t.equal(doc.topics.length, 1);
  t.equal(doc.topics[0]!.partitions.length, PARTITIONS);
  t.equal(doc.brokers.reduce((sum, b) => sum + (b.leaders ?? 0), 0), PARTITIONS, 'replicas led add up to the partitions');
  t.ok(doc.rates.topics[TOPIC], 'the topic has its own rates');

  const browser = await Browser.launch(chromium!);
  t.teardown(() => browser.close());
  const page = await browser.open(`${url(2)}/`);

  const brokers = await onScreen<Array<{ id: string; text: string }>>(page, 'three brokers up on screen', `(() => {
    const rows = [...document.querySelectorAll('#brokers tr[data-broker-id]')].map((r) => ({ id: r.dataset.brokerId, up: !!r.querySelector('.badge.up'), text: r.textContent }));
    return rows.length === 3 && rows.every((r) => r.up) && rows.some((r) => /controller leader/.test(r.text)) ? rows : null;
  })()`);
  t.same(brokers.map((b) => b.id), ['1', '2', '3']);

  const topicRow = await onScreen<string>(page, 'the topic on screen', `document.querySelector('#topics tr[data-topic="${TOPIC}"]')?.textContent ?? null`);
  t.match(topicRow, new RegExp(`^▸ ${TOPIC}${PARTITIONS}`), 'topic name and partition count');
  // Partitions collapse under their topic until asked for.
  t.equal(await page.evaluate<number>(`document.querySelectorAll('#topics tr[data-partition]').length`), 0, 'partitions are collapsed by default');
  await page.evaluate(`document.querySelector('#topics button[data-toggle="t:${TOPIC}"]').click()`);
  const partitions = await onScreen<Array<{ leader: string; isr: string }>>(page, 'every partition with a leader', `(() => {
    const rows = [...document.querySelectorAll('#topics tr[data-partition]')].map((r) => ({ leader: r.querySelector('.leader').textContent, isr: r.querySelector('.isr').textContent }));
    return rows.length === ${PARTITIONS} && rows.every((r) => /^[123]$/.test(r.leader)) ? rows : null;
  })()`);
  t.equal(partitions.length, PARTITIONS);

  const lag = await onScreen<number>(page, 'the group with its lag', `(() => {
    const row = [...document.querySelectorAll('#groups tr[data-group]')].find((r) => r.dataset.group === ${JSON.stringify(GROUP)});
    const lag = row && Number(row.querySelector('.lag').textContent.replace(/,/g, ''));
    return lag > 0 ? lag : null;
  })()`);
  t.ok(lag > 0, `group lag ${lag} on screen`);
  t.equal(await page.evaluate<number>(`document.querySelectorAll('#injected').length`), 0, 'the group id is shown as text, not markup');
  t.match(await page.evaluate<string>(`document.querySelector('#groups tr[data-group]').textContent`), GROUP);

  const rates = await onScreen<string>(page, 'non-zero produce and fetch rates', `(() => {
    // Producing now; the consumer fetched for a while and then stopped reading.
    const produce = document.querySelector('[data-rate="produce-rec"]')?.textContent ?? '';
    const produceBytes = document.querySelector('[data-rate="produce-B"]')?.textContent ?? '';
    const fetched = document.querySelector('[data-peak="fetch-rec"]')?.textContent ?? '';
    const fetchedBytes = document.querySelector('[data-peak="fetch-B"]')?.textContent ?? '';
    const nonZero = (text) => /^[0-9.]+ /.test(text) && !/^0 /.test(text);
    return [produce, produceBytes, fetched, fetchedBytes].every(nonZero) ? [produce, produceBytes, 'fetch peak ' + fetched, fetchedBytes].join(', ') : null;
  })()`);
  t.pass(`rates on screen: ${rates}`);
  await page.evaluate(`document.querySelector('#groups button[data-toggle]').click()`);
  await onScreen(page, 'the group\'s partitions', `document.querySelectorAll('#groups tr[data-group-partition]').length > 0 || null`);

  // Kept for a person to look at only when asked (FLOTILLA_KEEP_SCREENSHOT=1); else taken and removed.
  const shots = mkdtempSync(path.join(tmpdir(), 'flotilla-console-'));
  const screenshot = path.join(shots, 'console.png');
  writeFileSync(screenshot, await page.screenshot());
  if (process.env.FLOTILLA_KEEP_SCREENSHOT) t.comment(`screenshot: ${screenshot}`);
  else t.teardown(() => rmSync(shots, { recursive: true, force: true }));

  // A broker lost: the page, served by another, shows it down and keeps the rest.
  await cluster.kill(3);
  const down = await onScreen<string>(page, 'broker 3 down on screen', `(() => {
    const row = document.querySelector('#brokers tr[data-broker-id="3"]');
    return row && row.querySelector('.badge.down') ? row.textContent : null;
  })()`);
  t.match(down, /stale/, 'its last known replica counts are marked stale');
  t.equal(await page.evaluate<number>(`document.querySelectorAll('#topics tr[data-partition]').length`), PARTITIONS, 'the partitions are still shown');
  stopped = true;
  t.ok((await producing) > 0);
});
