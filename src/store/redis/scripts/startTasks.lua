--[[ startTasks: confirms prefetched tasks of one queue before their worker runs them.
KEYS: the queue's keys (QUEUE_KEY_NAMES order).
ARGV[1] now (ms or '')   ARGV[2] queue   then pairs: task id, lease token
Returns: per pair: 0 = lost (stolen, reclaimed, finished, lease expired), 1 = started, 2 = started but a cancel
  was requested
]]
--- @include "lib/common"

local ids = {}
for i = 3, #ARGV, 2 do ids[#ids + 1] = ARGV[i] end
load_many(ids)

local out = {}
for i = 3, #ARGV, 2 do
  local id = ARGV[i]
  local r = load(id)
  -- A prefetched task whose lease ran out is the reaper's, even if nobody reclaimed it yet.
  if r and r[R_state] == ST_processing and r[R_leaseToken] == ARGV[i + 1] and r[R_leaseExpiresAt] > NOW then
    if r[R_startedAt] == nil then
      r[R_startedAt] = NOW
      zrem(K_prefetched, id)
      save(id, r)
    end
    if r[R_cancelRequested] then out[#out + 1] = 2 else out[#out + 1] = 1 end
  else
    out[#out + 1] = 0
  end
end
finish()
return out
