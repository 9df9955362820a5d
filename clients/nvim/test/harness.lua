--- A small test runner for headless Neovim 0.7+: tests are coroutines that wait on conditions (never on
--- fixed sleeps) while the main loop runs, so typed keys, insert mode, timers and LSP messages behave as
--- in a real session. Prints one line per test; exits non-zero (cquit) on any failure or on timeout.
local H = {}

local uv = vim.uv or vim.loop
local tests = {}
local results = { passed = 0, failed = {} }

local function out(line)
  io.stdout:write('\n' .. line)
  io.stdout:flush()
end
H.out = out

--- Plain substrings of error messages a test expects (they do not fail the run's final :messages check).
H.allowed_errors = {}

function H.test(name, fn)
  table.insert(tests, { name = name, fn = fn })
end

local function now_ms()
  return uv.hrtime() / 1e6
end

--- Lets the main loop run for `ms` (default 0) and resumes the calling test.
function H.tick(ms)
  local co = coroutine.running()
  assert(co, 'H.tick outside a test')
  vim.defer_fn(function()
    local ok, err = coroutine.resume(co)
    if not ok then
      error(err)
    end
  end, ms or 0)
  coroutine.yield()
end

--- Waits until `cond()` returns a truthy value (which it returns); fails the test after `timeout_ms`.
function H.wait_for(what, cond, timeout_ms)
  local deadline = now_ms() + (timeout_ms or 10000)
  while true do
    local ok, value = pcall(cond)
    if ok and value then
      return value
    end
    if now_ms() > deadline then
      error(string.format('timed out waiting for %s%s', what, ok and '' or (' (last error: ' .. tostring(value) .. ')')), 2)
    end
    H.tick(10)
  end
end

--- Types `keys` (with <...> notation) as the user would, mappings included, and lets Neovim process them.
function H.feed(keys)
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(keys, true, false, true), 'mt', false)
  H.tick(0)
end

function H.eq(expected, actual, what)
  if not vim.deep_equal(expected, actual) then
    error(string.format('%s:\n    expected %s\n    got      %s', what or 'values differ', vim.inspect(expected),
      vim.inspect(actual)), 2)
  end
end

function H.truthy(value, what)
  if not value then
    error((what or 'expected a true value') .. ', got ' .. vim.inspect(value), 2)
  end
  return value
end

--- Runs the registered tests one after another (`after_each` runs inside each test's coroutine, so it
--- may wait), then `finally(results)`, then exits.
function H.run(opts)
  opts = opts or {}
  local index = 0
  local watchdog = uv.new_timer()
  watchdog:start(opts.timeout_ms or 600000, 0, vim.schedule_wrap(function()
    out('FAIL: the whole run timed out')
    vim.cmd('cquit')
  end))
  local function finish()
    if opts.finally then
      local ok, err = pcall(opts.finally, results)
      if not ok then
        table.insert(results.failed, 'finally: ' .. tostring(err))
        out('FAIL finally: ' .. tostring(err))
      end
    end
    out(string.format('%d passed, %d failed', results.passed, #results.failed))
    io.stdout:write('\n')
    watchdog:stop()
    if #results.failed > 0 then
      vim.cmd('cquit')
    else
      vim.cmd('qa!')
    end
  end
  local function next_test()
    index = index + 1
    local t = tests[index]
    if not t then
      finish()
      return
    end
    if opts.filter and not t.name:find(opts.filter, 1, true) then
      vim.schedule(next_test)
      return
    end
    local started = now_ms()
    local co = coroutine.create(function()
      local ok, err = xpcall(t.fn, debug.traceback)
      if ok then
        results.passed = results.passed + 1
        out(string.format('ok   %s (%d ms)', t.name, now_ms() - started))
      else
        table.insert(results.failed, t.name)
        out(string.format('FAIL %s\n  %s', t.name, tostring(err):gsub('\n', '\n  ')))
      end
      if opts.after_each then
        local ok_after, err_after = xpcall(opts.after_each, debug.traceback)
        if not ok_after then
          out('after ' .. t.name .. ': ' .. tostring(err_after))
        end
      end
      vim.schedule(next_test)
    end)
    local ok, err = coroutine.resume(co)
    if not ok then
      table.insert(results.failed, t.name)
      out('FAIL ' .. t.name .. ': ' .. tostring(err))
      vim.schedule(next_test)
    end
  end
  vim.schedule(next_test)
end

return H
