--[[ renewLeadership: extends a leader lease still held by this node under its token.
KEYS[1] the lease (hash { n, t, x })
ARGV[1] now (ms or '')   ARGV[2] node id   ARGV[3] ttl ms   ARGV[4] token
Returns: 1 when renewed, 0 when the lease was lost (expired, taken or resigned)
]]
--- @include "lib/clock"
local now = current_time(ARGV[1])
local cur = redis.call('HMGET', KEYS[1], 'n', 't', 'x')
if cur[1] ~= ARGV[2] or cur[2] ~= ARGV[4] or tonumber(cur[3]) <= now then return 0 end
redis.call('HSET', KEYS[1], 'x', now + tonumber(ARGV[3]))
return 1
