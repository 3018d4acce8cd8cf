-- Shared by every script of booking-redis (prepended to each; keep it small: it runs on
-- every call).
--
-- Instants are decimal nanoseconds since the Unix epoch: non-negative integers of any length,
-- compared exactly here (Lua's numbers are doubles, exact only up to 2^53).
local function le(a, b)
  if #a ~= #b then return #a < #b end
  if #a <= 15 then return tonumber(a) <= tonumber(b) end
  local ha, hb = tonumber(string.sub(a, 1, -10)), tonumber(string.sub(b, 1, -10))
  if ha ~= hb then return ha < hb end
  return tonumber(string.sub(a, -9)) <= tonumber(string.sub(b, -9))
end

-- An integer (below 2^53) as decimal text.
local function num(n)
  return string.format('%.0f', n)
end
