--[[ resignLeadership: gives up a leader lease if this node still holds it under its token.
KEYS[1] the lease (hash { n, t, x })
ARGV[1] node id   ARGV[2] token
Returns: 1 when resigned, 0 when it was not ours
]]
local cur = redis.call('HMGET', KEYS[1], 'n', 't')
if cur[1] ~= ARGV[1] or cur[2] ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1])
return 1
