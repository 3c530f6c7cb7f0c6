import t from 'tap';
import { FlotillaError } from '../../protocol/errors.js';
import { Dispatcher, type RequestContext, type RequestHook } from '../../broker/requests/dispatcher.js';

const context: RequestContext = { clientId: 'billing', remote: '127.0.0.1:5000', memory: { take: async () => undefined, resize: () => undefined }, session: {} };

t.test('a request goes to the handler of its type, with its body and context, and its answer is keyed by that type', async (t) => {
  const seen: unknown[] = [];
  const dispatcher = new Dispatcher({
    describeTopic: async (request, ctx) => {
      seen.push(request.topic, ctx.clientId);
      return { topic: request.topic };
    },
  });
  const response = await dispatcher.dispatch({ body: 'describeTopic', describeTopic: { topic: 'orders' } }, context);
  t.same(response, { describeTopic: { topic: 'orders' } });
  t.same(seen, ['orders', 'billing']);
});

t.test('a handler that answers nothing (produce with acks none) gives null', async (t) => {
  const dispatcher = new Dispatcher({ produce: async () => null });
  t.equal(await dispatcher.dispatch({ body: 'produce', produce: { acks: 2, timeoutMs: 0, partitions: [] } }, context), null);
});

t.test('a request with no body, or of a type with no handler, is INVALID_REQUEST', async (t) => {
  const dispatcher = new Dispatcher({});
  await t.rejects(dispatcher.dispatch({ body: undefined }, context), { code: 'INVALID_REQUEST', message: 'the request has no body' });
  await t.rejects(dispatcher.dispatch({ body: 'listGroups', listGroups: {} }, context), { code: 'INVALID_REQUEST', message: 'request type "listGroups" is not available on this broker yet' });
});

t.test('hooks run in order around every handler, see its error, and may refuse a request before it runs', async (t) => {
  const trace: string[] = [];
  let handled = 0;
  const outcome: RequestHook = async (type, _ctx, next) => {
    trace.push(`outcome ${type} start`);
    try {
      const response = await next();
      trace.push(`outcome ${type} ok`);
      return response;
    } catch (error) {
      trace.push(`outcome ${type} ${(error as FlotillaError).code}`);
      throw error;
    }
  };
  const gate: RequestHook = async (type, ctx, next) => {
    trace.push(`gate ${type}`);
    if (ctx.clientId === 'intruder') throw new FlotillaError('INVALID_REQUEST', 'refused');
    return next();
  };
  const dispatcher = new Dispatcher({
    listGroups: async () => {
      handled++;
      return { groups: [] };
    },
    describeGroup: async () => {
      handled++;
      throw new FlotillaError('NOT_CONTROLLER', 'elsewhere');
    },
  }, [outcome, gate]);
  t.same(await dispatcher.dispatch({ body: 'listGroups', listGroups: {} }, context), { listGroups: { groups: [] } });
  await t.rejects(dispatcher.dispatch({ body: 'describeGroup', describeGroup: { groupId: 'g' } }, context), { code: 'NOT_CONTROLLER' });
  await t.rejects(dispatcher.dispatch({ body: 'listGroups', listGroups: {} }, { ...context, clientId: 'intruder' }), { code: 'INVALID_REQUEST' });
  t.equal(handled, 2, 'the refused request never reached its handler');
  t.same(trace, [
    'outcome listGroups start', 'gate listGroups', 'outcome listGroups ok',
    'outcome describeGroup start', 'gate describeGroup', 'outcome describeGroup NOT_CONTROLLER',
    'outcome listGroups start', 'gate listGroups', 'outcome listGroups INVALID_REQUEST',
  ]);
});

t.test('a hook sees the request body and the handler\'s answer', async (t) => {
  const seen: unknown[] = [];
  const observer: RequestHook = async (_type, _ctx, next, request) => {
    const response = await next();
    seen.push(request, response);
    return response;
  };
  const dispatcher = new Dispatcher({ describeTopic: async (request) => ({ topic: request.topic }) }, [observer]);
  await dispatcher.dispatch({ body: 'describeTopic', describeTopic: { topic: 'orders' } }, context);
  t.same(seen, [{ topic: 'orders' }, { topic: 'orders' }]);
});
