/**
 * Preloaded (`node --import`) into the `conveyor server` process the bench starts: when the
 * bench's IPC channel closes (the bench ended, however it ended), the server exits too. The
 * channel is unref'd so that it keeps nothing alive by itself.
 */
import process from 'node:process';

if (process.send !== undefined) {
  process.channel?.unref();
  process.on('disconnect', () => process.exit(2));
}
