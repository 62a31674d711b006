import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { describeStoreConformance, type StoreHarness } from '../conformance/index.js';
import { FakeClock } from '../helpers/fake-clock.js';

/** A fresh database file in a fresh folder per test, removed with the folder afterwards. */
async function openSqliteHarness(): Promise<StoreHarness> {
  const dir = await mkdtemp(join(tmpdir(), 'conveyor-sqlite-'));
  const store = createSqliteStore({ path: join(dir, 'conveyor.db') });
  await store.migrate();
  return {
    store,
    clock: new FakeClock(),
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

describeStoreConformance('sqlite', openSqliteHarness);
