/**
 * The entry point of the library: `new Client({ brokers })`, then `admin()`,
 * `producer()` and `consumer()`. All of them share the client's connections and metadata.
 */
import { Admin } from './admin/admin.js';
import { Cluster } from './cluster/cluster.js';
import { Consumer } from './consumer/consumer.js';
import type { ConsumerOptions } from './consumer/options.js';
import { createWireCodec } from './network/wire.js';
import { resolveClientOptions, type ClientOptions } from './options.js';
import { Producer } from './producer/producer.js';
import type { ProducerOptions } from './producer/options.js';

/**
 * Each client's connections and metadata, for the command line and the tests, which need
 * requests the public API does not offer. Kept outside the class so that nothing of it
 * appears in the published types; `clusterOf` is not exported from the package root.
 */
const clusters = new WeakMap<Client, Cluster>();

export function clusterOf(client: Client): Cluster {
  return clusters.get(client)!;
}

export class Client {
  private readonly cluster: Cluster;
  private readonly producers = new Set<Producer>();
  private readonly consumers = new Set<Consumer>();

  constructor(options: ClientOptions) {
    const resolved = resolveClientOptions(options);
    this.cluster = new Cluster(resolved, createWireCodec(resolved.clientId));
    clusters.set(this, this.cluster);
  }

  admin(): Admin {
    return new Admin(this.cluster);
  }

  producer(options?: ProducerOptions): Producer {
    const producer = new Producer(this.cluster, options);
    this.producers.add(producer);
    return producer;
  }

  consumer(options?: ConsumerOptions): Consumer {
    const consumer = new Consumer(this.cluster, options);
    this.consumers.add(consumer);
    return consumer;
  }

  /** Closes producers (flushing them), consumers, and every connection. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.producers].map((p) => p.close()));
    await Promise.allSettled([...this.consumers].map((c) => c.close()));
    await this.cluster.close();
  }
}
