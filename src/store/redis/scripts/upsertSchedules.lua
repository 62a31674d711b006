--[[ upsertSchedules: creates or replaces schedules; a known name keeps its lastRunAt and createdAt.
KEYS[1] the schedules hash: name → JSON of the Schedule, always opening with its state in this order,
  {"lastRunAt":L,"nextRunAt":N,"createdAt":C,"updatedAt":U, followed by the definition's fields, so
  the state is read and rewritten as text and the task template is never re-encoded by Lua
ARGV[1] now (ms or '')   then per schedule, in input order: ARGV[2+3i] name
  ARGV[3+3i] nextRunAt (a JSON number or 'null')   ARGV[4+3i] the definition: a JSON object without its
  opening '{'
Returns: the stored JSON of each schedule, in input order
]]
--- @include "lib/clock"
local now = string.format('%.0f', current_time(ARGV[1]))
local HEAD = '^{"lastRunAt":([^,]*),"nextRunAt":[^,]*,"createdAt":([^,]*),"updatedAt":[^,]*,'

-- Everything is read and checked before the first write, so a bad entry leaves the hash unchanged.
-- A name given twice: the later one replaces the earlier one, as if upserted one after the other.
local names, values, written = {}, {}, {}
for i = 2, #ARGV, 3 do
  local name = ARGV[i]
  local cur = written[name] or redis.call('HGET', KEYS[1], name)
  local last_run, created = 'null', now
  if cur then
    last_run, created = string.match(cur, HEAD)
    if not last_run then return redis.error_reply('CONVEYOR_CORRUPT_SCHEDULE ' .. name) end
  end
  local value = '{"lastRunAt":' .. last_run .. ',"nextRunAt":' .. ARGV[i + 1] .. ',"createdAt":' .. created ..
    ',"updatedAt":' .. now .. ',' .. ARGV[i + 2]
  written[name] = value
  names[#names + 1] = name
  values[#values + 1] = value
end
for i = 1, #names do
  redis.call('HSET', KEYS[1], names[i], values[i])
end
return values
