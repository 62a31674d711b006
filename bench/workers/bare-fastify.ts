/**
 * The ceiling for the HTTP rows: a bare Fastify server on the same machine with one POST route
 * that parses the JSON body (Fastify's default parser, as Conveyor's API uses) and answers 201
 * with a generated id, storing nothing. Started by the bench over IPC; tells it the port.
 *
 *   node --import tsx bench/workers/bare-fastify.ts
 */
import { randomUUID } from 'node:crypto';
import Fastify from 'fastify';

if (process.send === undefined) {
  process.stderr.write('bare-fastify: must be started by bench/run.ts, with an IPC channel\n');
  process.exit(1);
}
process.on('disconnect', () => process.exit(2));

const app = Fastify();
app.post('/tasks', async (_request, reply) => {
  void reply.code(201);
  return { id: randomUUID() };
});
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
if (address === null || typeof address === 'string') throw new Error('bare-fastify: no TCP address');
process.send({ type: 'listening', port: address.port });
