/** Every scenario, in the order the bench runs them. */
import type { Scenario } from '../lib/scenario.js';
import { cpuScenario } from './cpu.js';
import { drainScenario } from './drain.js';
import { enqueueScenario } from './enqueue.js';
import { httpScenario } from './http.js';
import { latencyScenario } from './latency.js';
import { memoryScenario } from './memory.js';
import { sqliteScenario } from './sqlite.js';

export const SCENARIOS: readonly Scenario[] = [enqueueScenario, drainScenario, latencyScenario, memoryScenario, cpuScenario, sqliteScenario, httpScenario];
