--[[ claimTasks: leases up to `limit` due tasks of one queue to a worker.
KEYS: the queue's keys (QUEUE_KEY_NAMES order).
ARGV[1] now (ms or '')   ARGV[2] queue   ARGV[3] limit   ARGV[4] lease length ms   ARGV[5] worker id
ARGV[6] lease token (random per call, shared by the tasks it claims: the fence is task id + token);
  a call replayed with the same token (re-sent after a reconnect) answers the tasks the first run
  handed out
ARGV[7] how many due scheduled tasks to promote first
ARGV[8] how many of the claimed tasks start now; the rest are prefetched (startedAt stays empty
  until startTasks confirms them, and stealTasks may move them to an idle worker)
Returns: { outboxUsed (0|1), { id, packed record } per claimed task, in claim order }
Order: priority (10 first), then the order in which tasks became ready. A paused queue yields
nothing. A task past its deadline is not handed out: it goes dead (deadline_exceeded).
Events: task:claimed per claimed task (workerId, and its runAt: the reader reports waitMs = now -
runAt); task:dead for a task found past its deadline. Promotions on the way record nothing.
]]
--- @include "lib/common"
--- @include "lib/fast"

local token_prefix = ARGV[6]
local replay = replayed_claim(token_prefix)
if replay then return { 0, replay } end
if redis.call('HGET', K_meta, 'paused') == '1' then return { 0, {} } end

local limit = tonumber(ARGV[3])
local expires = NOW + tonumber(ARGV[4])
local worker = ARGV[5]
promote_due(tonumber(ARGV[7]))
local start_limit = tonumber(ARGV[8])

local out = {}
local claimed_ids = {}
local pending = tonumber(redis.call('HGET', K_meta, 'n' .. ST_pending) or '0') + (COUNT_DELTA[ST_pending] or 0)
-- The packed lease fields (leaseToken, workerId, leaseExpiresAt, startedAt) every task gets.
local lease_started = cmsgpack.pack(token_prefix, worker, expires, NOW)
local lease_prefetched = cmsgpack.pack(token_prefix, worker, expires) .. NIL
-- The packed tail of the task:claimed events of this claim, per attempt (lib/fast.lua).
local claim_tails = { worker = pack_str(worker) }

-- The general path: decode, check the deadline, change, pack.
local function claim_record(id, started)
  local r = load(id)
  -- Entries of tasks that left `pending` (cancelled, expired, already claimed) are skipped.
  if not r or r[R_state] ~= ST_pending then return end
  pending = pending - 1
  if r[R_deadline] and r[R_deadline] <= NOW then
    end_task(id, r, ST_dead, make_error('deadline_exceeded', 'deadline passed before the task could start', r[R_attempt]))
    return
  end
  r[R_attempt] = r[R_attempt] + 1
  r[R_workerId] = worker
  r[R_leaseToken] = token_prefix
  r[R_leaseExpiresAt] = expires
  r[R_cancelRequested] = nil
  move(id, r, ST_processing, expires)
  if started then
    r[R_startedAt] = NOW
  else
    r[R_startedAt] = nil
    zadd(K_prefetched, NOW, id)
  end
  out[#out + 1] = { id, save(id, r) }
  claimed_ids[#claimed_ids + 1] = id
  event(EV_claimed, id, r, worker, run_at(r))
end

-- Tasks claimed by the fast path: written together at the end, one command per kind.
local records, leased, prefetched, taken = {}, {}, {}, {}

local priority = 10
while #out < limit and pending > 0 and priority >= 0 do
  local ids = read_index('LPOP', K_pendingPrefix .. priority, limit - #out)
  if not ids then
    priority = priority - 1
  else
    -- LPOP takes at most `limit` ids: a worker's free slots plus its prefetch, far below unpack's limit.
    local packed = redis.call('HMGET', K_tasks, unpack(ids))
    for i, id in ipairs(ids) do
      local s = packed[i]
      local started = #out < start_limit
      -- A task this call already changed (a duplicate list entry) takes the general path.
      local record = s and not taken[id] and RECORDS[id] == nil and WRITES[id] == nil
        and claim_packed(s, started and lease_started or lease_prefetched, id, claim_tails)
      if record then
        taken[id] = true
        pending = pending - 1
        records[#records + 1] = id
        records[#records + 1] = record
        leased[#leased + 1] = expires
        leased[#leased + 1] = id
        if not started then
          prefetched[#prefetched + 1] = NOW
          prefetched[#prefetched + 1] = id
        end
        out[#out + 1] = { id, record }
        claimed_ids[#claimed_ids + 1] = id
      elseif s and not taken[id] then
        RAW[id] = RAW[id] or s
        claim_record(id, started)
      end
    end
  end
end
if #records > 0 then
  call_chunked('HSET', K_tasks, records)
  call_chunked('ZADD', K_processing, leased)
  if #prefetched > 0 then call_chunked('ZADD', K_prefetched, prefetched) end
  count(ST_pending, -#leased / 2)
  count(ST_processing, #leased / 2)
end

-- More work is waiting: pass the wake-up on to the next idle worker.
if pending > 0 then mark_work(0) end
log_claim(token_prefix, claimed_ids)
return { finish(), out }
