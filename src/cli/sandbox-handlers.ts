/**
 * The handlers module that sandboxed threads load (`worker --sandbox`): the user's handlers module
 * (its `file:` URL in this module's `?handlers=` query) plus the built-in `http` task type, with
 * `?allowPrivateNetworks=1` when the configuration allows private destinations. A type of the
 * user's module named `http` wins over the built-in one.
 */
import { createHttpHandler, HTTP_TASK_TYPE } from '../builtin/http-task.js';
import type { Handlers } from '../worker/handlers.js';
import { loadHandlersModule } from '../worker/in-process-runner.js';

const params = new URL(import.meta.url).searchParams;
const userModule = params.get('handlers');

const handlers = Object.create(null) as Handlers;
handlers[HTTP_TASK_TYPE] = createHttpHandler({ allowPrivateNetworks: params.get('allowPrivateNetworks') === '1' });
if (userModule !== null) {
  for (const [type, handler] of await loadHandlersModule(new URL(userModule))) handlers[type] = handler;
}

export default handlers;
