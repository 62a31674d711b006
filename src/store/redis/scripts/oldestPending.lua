--[[ oldestPending: the due time of the pending task of one queue that has waited longest.
KEYS: the queue's keys (QUEUE_KEY_NAMES order).
ARGV[1] now (unused)   ARGV[2] queue
Returns: the smallest runAt among the first live entry of each priority's pending list (each list
  is FIFO, so its first live entry is its longest-waiting task), or false when nothing is pending.
Entries of tasks that left `pending` (cancelled, expired) are skipped, and dropped from the head
of their list on the way, as the next claim would drop them; nothing else is changed.
]]
--- @include "lib/common"
--- @include "lib/fast"

if tonumber(redis.call('HGET', K_meta, 'n' .. ST_pending) or '0') <= 0 then return false end

local oldest = nil
for priority = 0, 10 do
  local key = K_pendingPrefix .. priority
  local stale = 0
  local found = nil
  while not found do
    local ids = redis.call('LRANGE', key, stale, stale + 99)
    if #ids == 0 then break end
    local packed = redis.call('HMGET', K_tasks, unpack(ids))
    for i, id in ipairs(ids) do
      local s = packed[i]
      -- The state is the record's first field: no need to decode a stale record.
      if s and string.sub(s, 1, 2) == PENDING then
        RAW[id] = s
        found = run_at(load(id))
        break
      end
      stale = stale + 1
    end
  end
  if stale > 0 then redis.call('LTRIM', key, stale, -1) end
  if found and (oldest == nil or found < oldest) then oldest = found end
end

if oldest == nil then return false end
return oldest
