--[[ renewLeases: extends the leases of one queue's tasks still held under their token.
KEYS: the queue's keys (QUEUE_KEY_NAMES order).
ARGV[1] now (ms or '')   ARGV[2] queue   ARGV[3] lease length ms   then triples: task id, lease token,
  progress JSON to store ('' = none)
Returns: { per triple: 0 = lost, 1 = renewed, 2 = renewed but a cancel was requested; then the new
  expiry as the last element }
Events: task:progress for each renewed lease that carried progress.
]]
--- @include "lib/common"

local expires = NOW + tonumber(ARGV[3])
local ids = {}
for i = 4, #ARGV, 3 do ids[#ids + 1] = ARGV[i] end
load_many(ids)

local out = {}
for i = 4, #ARGV, 3 do
  local id = ARGV[i]
  local r = load(id)
  if r and r[R_state] == ST_processing and r[R_leaseToken] == ARGV[i + 1] then
    r[R_leaseExpiresAt] = expires
    if ARGV[i + 2] ~= '' then
      r[R_progress] = ARGV[i + 2]
      event(EV_progress, id, r, ARGV[i + 2])
    end
    zadd(K_processing, expires, id)
    save(id, r)
    if r[R_cancelRequested] then out[#out + 1] = 2 else out[#out + 1] = 1 end
  else
    out[#out + 1] = 0
  end
end
out[#out + 1] = expires
finish()
return out
