--[[ advanceSchedule: records the occurrences the scheduler enqueued (compare-and-set on nextRunAt).
KEYS[1] the schedules hash: name → JSON of the Schedule, opening with
  {"lastRunAt":L,"nextRunAt":N,"createdAt":C,"updatedAt":U, (see upsertSchedules)
ARGV[1] now (ms or '')   ARGV[2] name   ARGV[3] the expected nextRunAt   ARGV[4] the new lastRunAt
  ARGV[5] the new nextRunAt (each a JSON number or 'null', formatted as the store formats them all, so
  equal values are equal strings)
Returns: 1 when applied; 0 when the name is unknown or its nextRunAt is not the expected one
]]
--- @include "lib/clock"
local cur = redis.call('HGET', KEYS[1], ARGV[2])
if not cur then return 0 end
local next_run, created, definition =
  string.match(cur, '^{"lastRunAt":[^,]*,"nextRunAt":([^,]*),"createdAt":([^,]*),"updatedAt":[^,]*,(.*)$')
if not next_run then return redis.error_reply('CONVEYOR_CORRUPT_SCHEDULE ' .. ARGV[2]) end
if next_run ~= ARGV[3] then return 0 end
local now = string.format('%.0f', current_time(ARGV[1]))
redis.call('HSET', KEYS[1], ARGV[2], '{"lastRunAt":' .. ARGV[4] .. ',"nextRunAt":' .. ARGV[5] .. ',"createdAt":' ..
  created .. ',"updatedAt":' .. now .. ',' .. definition)
return 1
