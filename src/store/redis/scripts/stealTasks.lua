--[[ stealTasks: work stealing. Leases to an idle worker prefetched, not yet started tasks that
other workers hold in one queue, oldest claim first. The attempt stays the one spent at the first
claim; the former holder's token is refused from now on.
KEYS: the queue's keys (QUEUE_KEY_NAMES order).
ARGV[1] now (ms or '')   ARGV[2] queue   ARGV[3] limit   ARGV[4] lease length ms   ARGV[5] thief's
worker id   ARGV[6] lease token (random per call, shared by the tasks it moves; a replay with the same token answers the same tasks)
Returns: { wire record per stolen task }
Events: task:claimed per stolen task, with the thief's worker id (no waitMs).
]]
--- @include "lib/common"

local replay = replayed_claim(ARGV[6])
if replay then return replay end
if redis.call('HGET', K_meta, 'paused') == '1' then return {} end

local limit = tonumber(ARGV[3])
local expires = NOW + tonumber(ARGV[4])
local thief = ARGV[5]
local out = {}
local stolen_ids = {}
-- Bounded look: the oldest prefetched tasks, skipping the thief's own.
local candidates = redis.call('ZRANGE', K_prefetched, 0, limit * 4 + 16)
load_many(candidates)
for _, id in ipairs(candidates) do
  if #out >= limit then break end
  local r = load(id)
  if not r or r[R_state] ~= ST_processing or r[R_startedAt] ~= nil then
    zrem(K_prefetched, id)
  elseif r[R_workerId] ~= thief and r[R_leaseExpiresAt] > NOW and not r[R_cancelRequested]
      and not (r[R_deadline] and r[R_deadline] <= NOW) then
    -- Not taken: expired leases (the reaper's), cancel requests (the holder finishes them at
    -- start) and passed deadlines (expireDeadlines ends them).
    zrem(K_prefetched, id)
    r[R_workerId] = thief
    r[R_leaseToken] = ARGV[6]
    r[R_leaseExpiresAt] = expires
    r[R_startedAt] = NOW
    zadd(K_processing, expires, id)
    out[#out + 1] = { id, save(id, r) }
    stolen_ids[#stolen_ids + 1] = id
    event(EV_claimed, id, r, thief)
  end
end
log_claim(ARGV[6], stolen_ids)
finish()
return out
