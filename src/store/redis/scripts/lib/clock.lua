-- The store's clock: `now` given by the caller (tests drive a fake clock), else Redis TIME, so that
-- every node judges due times and leases on one clock.
local function current_time(given)
  local n = tonumber(given)
  if n then return n end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
