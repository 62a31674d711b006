/**
 * Conveyor's public surface. Everything a user may import comes from here; other modules are
 * internal and may change between minor versions.
 *
 * So far: the task model (types, validation, retry policy, durations, errors), the two stores
 * behind one interface, the client, the worker, the coordinator, the built-in `http` task type and
 * the logger. The CLI and the HTTP API come later.
 */

export * from './types.js';
export { ConveyorError, ERROR_CODES, isConveyorError, type ErrorCode } from './errors.js';
export { newTaskId, isTaskId } from './ids.js';
export { QUEUE_NAME_PATTERN, QUEUE_NAME_RULE, TASK_TYPE_PATTERN, TASK_TYPE_RULE } from './names.js';
export { systemClock, type Clock } from './clock.js';

export { DURATION_RULE, MAX_DURATION_MS, durationSchema, parseDuration } from './duration.js';
export { DEFAULT_BACKOFF, DEFAULT_RETRIES, retryDelayMs } from './retry/retry-policy.js';
export {
  DEFAULT_PAYLOAD_LIMITS,
  DEFAULT_PRIORITY,
  DEFAULT_QUEUE,
  FORBIDDEN_PAYLOAD_KEYS,
  IDEMPOTENCY_KEY_MAX_LENGTH,
  MAX_DEPENDENCIES,
  MAX_RETRIES,
  PAYLOAD_MAX_BYTES,
  PAYLOAD_MAX_DEPTH,
  PAYLOAD_MAX_KEYS,
  createSubmitTaskSchema,
  findJsonProblem,
  formatIssuePath,
  jsonValueSchema,
  parseSubmitTask,
  submitTaskSchema,
  timestampSchema,
  toNewTask,
  toValidationIssues,
  validationError,
  type JsonProblem,
  type PayloadLimits,
  type SubmitTaskInput,
  type SubmitTaskOptions,
  type SubmitTaskSchema,
  type SubmitTaskSchemaOptions,
  type ValidationIssue,
} from './schemas.js';

export {
  DEFAULT_SQLITE_PATH,
  SqliteStore,
  createSqliteStore,
  type SqliteStoreOptions,
} from './store/sqlite/sqlite-store.js';
export { RedisStore, createRedisStore, type RedisStoreOptions } from './store/redis/redis-store.js';
export type {
  AttemptError,
  CancelOutcome,
  ClaimTasksParams,
  DeleteFinishedTasksParams,
  FinishItem,
  FinishOutcome,
  FinishTasksParams,
  FinishTasksResult,
  HeartbeatParams,
  InsertTasksParams,
  InsertTasksResult,
  LeaderLease,
  LeaderParams,
  LeaseRef,
  ListTasksParams,
  ListTasksResult,
  MaintenanceParams,
  NewTask,
  OldestPending,
  QueueCounts,
  QueueInfo,
  ReadEventsParams,
  ReadEventsResult,
  ReclaimResult,
  RenewLeasesParams,
  RenewLeasesResult,
  RetryOutcome,
  Schedule,
  ScheduleDefinition,
  StartTasksParams,
  StartTasksResult,
  StealTasksParams,
  Store,
  StoreCapabilities,
  StoreKind,
  WaitForWorkParams,
  WorkerInfo,
} from './store/store.js';
export { EVENTS_START } from './store/store.js';
export { DEFAULT_STORE_URL, openStore } from './store/open-store.js';
export { TaskEventFeed, type TaskEventFeedOptions, type TaskEventFilter, type TaskEventListener } from './events/feed.js';
export {
  createWorker,
  DEFAULT_LEASE_MS,
  DEFAULT_SHUTDOWN_GRACE_MS,
  Worker,
  type WorkerOptions,
  type WorkerState,
} from './worker/worker.js';
export {
  defineHandlers,
  isPermanentError,
  PermanentError,
  silentLogger,
  type Handler,
  type HandlerAbortReason,
  type HandlerContext,
  type Handlers,
  type Logger,
} from './worker/handlers.js';
export { parseConcurrency, type ConcurrencyRange } from './worker/concurrency.js';
export {
  Coordinator,
  createCoordinator,
  DEFAULT_COORDINATOR_INTERVALS,
  getClusterView,
  type ClusterNode,
  type ClusterView,
  type CoordinatorIntervals,
  type CoordinatorOptions,
} from './coordinator/coordinator.js';
export { DEFAULT_LEADER_LEASE_MS, LEADER_LEASE_NAME } from './coordinator/leader-elector.js';
export { DEFAULT_RETENTION, type RetentionConfig, type RetentionPolicy } from './coordinator/services/retention-cleaner.js';
export {
  listSchedules,
  MISSED_RUN_GRACE_MS,
  nextOccurrence,
  parseSchedule,
  removeSchedules,
  saveSchedules,
  type ScheduleInput,
} from './coordinator/schedules.js';
export { VERSION } from './version.js';
export { createLogger, type CreateLoggerOptions, type LogLevel } from './observability/logger.js';
// Tracing: spans through @opentelemetry/api with the application's SDK (docs/tracing.md).
export { TRACE_ATTRIBUTES, TRACER_NAME } from './observability/tracing.js';
export {
  ConveyorMetrics,
  createMetrics,
  DEFAULT_CLUSTER_TIMEOUT_MS,
  DEFAULT_RUN_BUCKETS,
  DEFAULT_STORE_CALL_BUCKETS,
  DEFAULT_WAIT_BUCKETS,
  type ConveyorMetricsOptions,
  type StoreCallMetrics,
  type StoreCallRecorder,
} from './observability/metrics.js';
export { ATTEMPT_OUTCOMES, type AttemptOutcome, type MetricsSink, type ReclaimOutcome } from './observability/metrics-sink.js';
export { instrumentStore, STORE_OPERATIONS, type StoreOperation } from './observability/instrumented-store.js';
export { serveMetrics, type MetricsServer } from './observability/metrics-server.js';
export {
  Client,
  ClientSchedules,
  createClient,
  DeadLetterQueue,
  DEFAULT_LIST_LIMIT,
  MAX_BATCH_SIZE,
  MAX_LIST_LIMIT,
  type CancelResult,
  type ClientDefaults,
  type ClientOptions,
  type DeadListOptions,
  type DeadPurgeOptions,
  type DeadRetryOptions,
  type ListOptions,
  type QueueSummary,
  type RetryResult,
  type StatsOptions,
  type SubmitResult,
  type TaskEventOf,
  type TaskEventScope,
  type WaitForOptions,
} from './client/client.js';
export { RetryAfterError } from './worker/handlers.js';
export { createHttpHandler, HTTP_TASK_TYPE, type HttpHandlerOptions } from './builtin/http-task.js';
