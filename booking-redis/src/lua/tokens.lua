-- Token minting, for the scripts that hand out tokens (after prelude.lua).

-- Redis's clock in microseconds.
local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

-- The token after `last` (decimal text or false): the larger of last + 1 and Redis's clock in
-- microseconds. Tokens so made grow strictly while `last` is kept, and stay above every token
-- handed out before a restart or failover that lost `last`: they never run ahead of the
-- server's clock by more than the few grants one microsecond can hold.
local function advance(last)
  local clock = now_us()
  local after = (tonumber(last or '0') or 0) + 1
  if after > clock then return num(after) end
  return num(clock)
end

-- The next token of the counter at `fence` (kept for `keep` ms after its last use), by the
-- rule of `advance`, in one SET ... GET on the common path.
local function next_token(fence, keep)
  local clock = now_us()
  local last = tonumber(redis.call('SET', fence, num(clock), 'PX', keep, 'GET') or '0') or 0
  if last < clock then return num(clock) end
  local token = num(last + 1)
  redis.call('SET', fence, token, 'PX', keep)
  return token
end
