-- Fast paths of the hot operations, on packed records. The head of a record (codec.ts: state,
-- attempt, leaseToken, workerId, leaseExpiresAt, startedAt, finishedAt, result, hasDependents,
-- createdAt, deadline) is always written in full, so claiming or completing a task rewrites a few
-- bytes of it and copies the rest, instead of unpacking and repacking the whole record: packing
-- cost as much as everything else a claim does. Each function answers nil when the record is not
-- in the shape it handles, and the caller takes the general path (load, change, save).
-- Included after lib/common.

local NIL = '\192'
local PENDING = '\161' .. ST_pending
local PROCESSING = '\161' .. ST_processing
local COMPLETED = '\161' .. ST_completed
-- attempt, then leaseToken … result empty: how every pending record begins after its state
local EMPTY_LEASE = NIL .. NIL .. NIL .. NIL .. NIL .. NIL

-- The position just after the MessagePack value at `pos` (the types cmsgpack writes for our
-- fields), or nil for anything else.
local function skip(s, pos)
  local b = string.byte(s, pos)
  if b == nil then return nil end
  if b < 0x80 or b >= 0xe0 or b == 0xc0 or b == 0xc2 or b == 0xc3 then return pos + 1 end
  if b >= 0xa0 and b <= 0xbf then return pos + 1 + b - 0xa0 end
  if b == 0xd9 then return pos + 2 + string.byte(s, pos + 1) end
  if b == 0xda then
    local hi, lo = string.byte(s, pos + 1, pos + 2)
    return pos + 3 + hi * 256 + lo
  end
  if b == 0xcc or b == 0xd0 then return pos + 2 end
  if b == 0xcd or b == 0xd1 then return pos + 3 end
  if b == 0xce or b == 0xd2 or b == 0xca then return pos + 5 end
  if b == 0xcf or b == 0xd3 or b == 0xcb then return pos + 9 end
  return nil
end

-- The position after the integer or nil at `pos`: epoch milliseconds are uint64 (0xcf), the one
-- case worth a shortcut (string.byte costs as much as a whole comparison chain here).
local function skip_time(s, pos)
  if string.byte(s, pos) == 0xcf then return pos + 9 end
  return skip(s, pos)
end

-- Claims the pending task in packed record `s`: `lease` is the packed leaseToken, workerId,
-- leaseExpiresAt and startedAt, the same for every task of one claim. Answers the new record, or
-- nil when `s` is not a pending task without a deadline with attempt < 127 (the general path
-- then checks the deadline).
local function claim_packed(s, lease)
  if string.sub(s, 1, 2) ~= PENDING or string.sub(s, 4, 9) ~= EMPTY_LEASE then return nil end
  local attempt = string.byte(s, 3)
  if attempt >= 0x7f then return nil end
  local created_end = skip_time(s, 11)
  if not created_end or string.byte(s, created_end) ~= 0xc0 then return nil end
  return PROCESSING .. string.char(attempt + 1) .. lease .. NIL .. NIL .. string.sub(s, 10)
end

local THREE_NILS = NIL .. NIL .. NIL

-- Completes the processing task in packed record `s` if `token` holds its lease: answers the new
-- record and whether the task has a deadline, or false when the token does not hold the lease,
-- or nil when `s` is not in the simple shape (a started task whose token and worker id are short
-- strings, with no dependents waiting and no result yet).
local function complete_packed(s, token, result, now)
  if string.sub(s, 1, 2) ~= PROCESSING then return nil end
  local attempt, token_header = string.byte(s, 3, 4)
  if attempt >= 0x80 or token_header < 0xa0 or token_header > 0xbf then return nil end
  local worker_at = 5 + token_header - 0xa0
  if string.sub(s, 5, worker_at - 1) ~= token then return false end
  local worker_header = string.byte(s, worker_at)
  if worker_header < 0xa0 or worker_header > 0xbf then return nil end
  local expires_at = worker_at + 1 + worker_header - 0xa0
  local started_at = skip_time(s, expires_at)
  if not started_at or string.byte(s, started_at) == 0xc0 then return nil end
  local finished_at = skip_time(s, started_at)
  -- finishedAt, result and hasDependents empty: three nils in a row.
  if not finished_at or string.sub(s, finished_at, finished_at + 2) ~= THREE_NILS then return nil end
  local created_end = skip_time(s, finished_at + 3)
  if not created_end then return nil end
  local packed_result = NIL
  if result ~= '' then packed_result = cmsgpack.pack(result) end
  local record = COMPLETED .. string.char(attempt) .. NIL .. string.sub(s, worker_at, expires_at - 1) .. NIL ..
    string.sub(s, started_at, finished_at - 1) .. cmsgpack.pack(now) .. packed_result .. string.sub(s, finished_at + 2)
  return record, string.byte(s, created_end) ~= 0xc0
end

-- The head of a new pending task up to createdAt; insertTasks puts the task's packed tail after it.
local function pending_head(now)
  return PENDING .. '\0' .. EMPTY_LEASE .. NIL .. cmsgpack.pack(now)
end
