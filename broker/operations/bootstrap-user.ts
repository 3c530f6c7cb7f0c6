/**
 * FLOTILLA_BOOTSTRAP_USER: the first superuser of a new cluster. While this broker leads
 * the controller and the metadata has never had a bootstrap user, it proposes one (a
 * `bootstrapUser` command, which only the first applied one acts on); so the user is
 * created once, when the cluster first forms, whichever broker leads then, and deleting
 * it later does not bring it back. The credential is derived here: the password never
 * reaches the log.
 */
import type { Logger } from 'pino';
import { deriveScramCredential } from '../../protocol/scram.js';
import type { BootstrapUser } from '../config.js';
import type { Controller } from '../controller/controller.js';
import { Periodic } from '../periodic.js';

const CHECK_MS = 250;

export class BootstrapUserCreation {
  private readonly timer: Periodic;
  private proposing = false;

  constructor(controller: Controller, user: BootstrapUser, logger: Logger) {
    this.timer = new Periodic(CHECK_MS, () => {
      if (this.proposing || controller.state.bootstrapped || !controller.isLeader || !controller.metadataCurrent) return;
      this.proposing = true;
      const credential = deriveScramCredential(user.password);
      controller
        .propose({ type: 'bootstrapUser', name: user.name, ...credential }, 10_000)
        .then(
          () => {
            if (controller.state.users.has(user.name)) logger.info({ user: user.name }, 'bootstrap user ready');
            this.timer.stop();
          },
          (error: unknown) => logger.debug({ err: (error as Error).message }, 'bootstrap user not created yet; retrying'),
        )
        .finally(() => (this.proposing = false));
    });
  }

  start(): void {
    this.timer.start();
  }

  stop(): void {
    this.timer.stop();
  }
}
