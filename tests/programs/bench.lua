-- A Lua workload: recursion, tables, strings, closures and sorting.
-- arg[1] scales it (default 1).
local scale = tonumber(arg and arg[1]) or 1

local function fib(n) if n < 2 then return n end return fib(n - 1) + fib(n - 2) end
print("fib", fib(24 + scale))

local t = {}
for i = 1, 200000 * scale do t[i] = (i * 7919) % 100003 end
table.sort(t)
local sum = 0
for i = 1, #t, 97 do sum = sum + t[i] end
print("sorted", #t, t[1], t[#t], sum)

local words = {}
for i = 1, 50000 * scale do words[#words + 1] = string.format("w%05d", (i * 31) % 50000) end
local counts = {}
for _, w in ipairs(words) do counts[w] = (counts[w] or 0) + 1 end
local distinct = 0
for _ in pairs(counts) do distinct = distinct + 1 end
print("words", #words, distinct, table.concat(words, ",", 1, 3))

local function counter()
  local c = 0
  return function() c = c + 1; return c end
end
local next_value = counter()
for _ = 1, 100000 * scale do next_value() end
print("closure", next_value())
print(string.rep("ab", 3), ("hello"):upper(), math.floor(math.pi * 1000))
