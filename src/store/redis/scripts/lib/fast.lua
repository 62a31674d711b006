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
  if b == 0xdb then
    local b1, b2, b3, b4 = string.byte(s, pos + 1, pos + 4)
    return pos + 5 + ((b1 * 256 + b2) * 256 + b3) * 256 + b4
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
-- With events on, it appends task:claimed to EVENTS (lib/events): `tails[attempt]` caches the
-- packed `attempt, state, workerId` of this claim (`tails.worker` = the packed worker id); the
-- type and the due time (runAt, or createdAt when there is none) are copied from the record.
local function claim_packed(s, lease, id, tails)
  if string.sub(s, 1, 2) ~= PENDING or string.sub(s, 4, 9) ~= EMPTY_LEASE then return nil end
  local attempt = string.byte(s, 3)
  if attempt >= 0x7f then return nil end
  local created_end = skip_time(s, 11)
  if not created_end or string.byte(s, created_end) ~= 0xc0 then return nil end
  if EVENTS_ON then
    -- deadline (nil), type, payload, priority, maxAttempts, then runAt (absent or nil: createdAt).
    -- The usual shapes (a fixstr type, a str8 payload, small integers) are skipped inline.
    local type_at = created_end + 1
    local b = string.byte(s, type_at)
    local type_end
    if b and b >= 0xa0 and b <= 0xbf then type_end = type_at + 1 + b - 0xa0 else type_end = skip(s, type_at) end
    if not type_end then return nil end
    local p
    b = string.byte(s, type_end)
    if b == 0xd9 then p = type_end + 2 + string.byte(s, type_end + 1) else p = skip(s, type_end) end
    if not p then return nil end
    local b1, b2 = string.byte(s, p, p + 1)
    if b1 and b2 and b1 < 0x80 and b2 < 0x80 then
      p = p + 2
    else
      p = skip(s, p)
      p = p and skip(s, p)
      if not p then return nil end
    end
    local due_at, due_end = 11, created_end
    if p <= #s and string.byte(s, p) ~= 0xc0 then
      due_at = p
      due_end = skip_time(s, p)
      if not due_end then return nil end
    end
    local tail = tails[attempt]
    if not tail then
      tail = string.char(attempt + 1) .. PROCESSING .. tails.worker
      tails[attempt] = tail
    end
    local n = NEV
    EVENTS[n + 1] = CLAIMED7
    if #id == 26 then EVENTS[n + 2] = ID26 else EVENTS[n + 2] = str_header(#id) end
    EVENTS[n + 3] = id
    EVENTS[n + 4] = string.sub(s, type_at, type_end - 1)
    EVENTS[n + 5] = tail
    EVENTS[n + 6] = string.sub(s, due_at, due_end - 1)
    NEV = n + 6
    NEVENTS = NEVENTS + 1
  end
  return PROCESSING .. string.char(attempt + 1) .. lease .. NIL .. NIL .. string.sub(s, 10)
end

local THREE_NILS = NIL .. NIL .. NIL
-- The packed `attempt, state` of a task:completed, by attempt (filled as met).
local COMPLETED_TAIL = {}

-- Completes the processing task in packed record `s` if `token` holds its lease: answers the new
-- record and whether the task has a deadline (and appends task:completed to EVENTS), or false
-- when the token does not hold the lease, or nil when `s` is not in the simple shape (a started
-- task whose token and worker id are short strings, with no dependents waiting and no result yet).
-- `id` is the task's id.
local function complete_packed(s, token, result, now, id)
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
  -- task:completed, appended to EVENTS (the caller drops it if the batch takes the general path).
  local has_deadline = string.byte(s, created_end) ~= 0xc0
  if EVENTS_ON then
    -- deadline, then the type (usually a fixstr, skipped inline)
    local type_at
    if has_deadline then type_at = skip_time(s, created_end) else type_at = created_end + 1 end
    local b = type_at and string.byte(s, type_at)
    local type_end
    if b and b >= 0xa0 and b <= 0xbf then type_end = type_at + 1 + b - 0xa0 else type_end = type_at and skip(s, type_at) end
    if not type_end then return nil end
    local n = NEV
    EVENTS[n + 1] = COMPLETED5
    if #id == 26 then EVENTS[n + 2] = ID26 else EVENTS[n + 2] = str_header(#id) end
    EVENTS[n + 3] = id
    EVENTS[n + 4] = string.sub(s, type_at, type_end - 1)
    local tail = COMPLETED_TAIL[attempt]
    if not tail then
      tail = string.char(attempt) .. COMPLETED
      COMPLETED_TAIL[attempt] = tail
    end
    EVENTS[n + 5] = tail
    NEV = n + 5
    NEVENTS = NEVENTS + 1
  end
  return record, has_deadline
end

-- The head of a new pending task up to createdAt; insertTasks puts the task's packed tail after it.
local function pending_head(now)
  return PENDING .. '\0' .. EMPTY_LEASE .. NIL .. cmsgpack.pack(now)
end
