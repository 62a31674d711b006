--[[ acquireLeadership: takes a leader lease when it is free, expired, or already this node's.
KEYS[1] the lease (hash { n = node id, t = token, x = expires at ms })
ARGV[1] now (ms or '')   ARGV[2] node id   ARGV[3] ttl ms   ARGV[4] a fresh token, used when the
  lease changes hands (a node that still holds it keeps its token)
Returns: { node id, token, expires at } when this node holds the lease, else nil
]]
--- @include "lib/clock"
local now = current_time(ARGV[1])
local cur = redis.call('HMGET', KEYS[1], 'n', 't', 'x')
local held = cur[1] and tonumber(cur[3]) > now
if held and cur[1] ~= ARGV[2] then return nil end
local token = ARGV[4]
if held then token = cur[2] end
local expires = now + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'n', ARGV[2], 't', token, 'x', expires)
return { ARGV[2], token, expires }
