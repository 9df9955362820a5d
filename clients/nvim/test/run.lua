-- Entry point of the Neovim tests: nvim --headless -u test/minimal_init.lua -i NONE -c 'luafile test/run.lua'
-- (Neovim 0.7 has no -l). Environment:
--   DIFFUSION_LSP_TEST_CMD       JSON list: the server command (end-to-end tests need it)
--   DIFFUSION_LSP_TEST_SETTINGS  JSON object: settings sent as initializationOptions (e.g. the tiny model)
--   DIFFUSION_LSP_TEST_FILTER    run only tests whose name contains this string
--   DIFFUSION_LSP_TEST_LAYOUT    set by run.sh for a start-up run (Neovim started with a user's init.lua):
--                                run test_startup.lua for that install layout instead
--   DIFFUSION_LSP_FAKE_LOG       (start-up runs) the file fake_server.py logs what it received to
--   DIFFUSION_LSP_TEST_SUITE     'next_edit' (set by run.sh): only the next-edit end-to-end tests, against
--     DIFFUSION_LSP_TEST_NEXT_EDIT_CMD       JSON list: the server command (its fake engine or a model), with
--     DIFFUSION_LSP_TEST_NEXT_EDIT_SETTINGS  JSON object: its settings
local here = debug.getinfo(1, 'S').source:sub(2)
local dir = vim.fn.fnamemodify(here, ':p:h')
package.path = dir .. '/?.lua;' .. package.path

local H = require('harness')

-- Errors reported through vim.notify (the plugin's own and Neovim's LSP client's) count as failures.
local notified_errors = {}
local notify = vim.notify
vim.notify = function(msg, level, ...)
  if level == vim.log.levels.ERROR then
    table.insert(notified_errors, 'notify: ' .. tostring(msg))
  end
  return notify(msg, level, ...)
end
local layout = vim.env.DIFFUSION_LSP_TEST_LAYOUT
if vim.env.DIFFUSION_LSP_TEST_SUITE == 'next_edit' then
  -- Next edit against the real server on its fake engine (run.sh runs this apart: other settings).
  require('test_next_edit_e2e')(H, {
    cmd = vim.fn.json_decode(vim.env.DIFFUSION_LSP_TEST_NEXT_EDIT_CMD),
    settings = vim.fn.json_decode(vim.env.DIFFUSION_LSP_TEST_NEXT_EDIT_SETTINGS or '{}'),
  })
elseif layout and layout ~= '' then
  -- Started with a user's init.lua (run.sh writes one per install layout), against fake_server.py.
  H.out('layout: ' .. layout)
  require('test_startup')(H, layout)
elseif vim.env.DIFFUSION_LSP_TEST_CMD and vim.env.DIFFUSION_LSP_TEST_CMD ~= '' then
  require('test_units')(H)
  require('test_next_edit_units')(H)
  require('test_e2e')(H, {
    cmd = vim.fn.json_decode(vim.env.DIFFUSION_LSP_TEST_CMD),
    settings = vim.fn.json_decode(vim.env.DIFFUSION_LSP_TEST_SETTINGS or '{}'),
  })
else
  require('test_units')(H)
  require('test_next_edit_units')(H)
  H.out('note: DIFFUSION_LSP_TEST_CMD is not set; end-to-end tests skipped')
end

local v = vim.version()
H.out(string.format('Neovim %d.%d.%d', v.major, v.minor, v.patch))
H.run({
  filter = vim.env.DIFFUSION_LSP_TEST_FILTER,
  timeout_ms = 900000,
  after_each = function()
    -- Back to normal mode whatever a failed test left behind.
    if vim.api.nvim_get_mode().mode ~= 'n' then
      H.feed('<Esc>')
      H.wait_for('normal mode', function()
        return vim.api.nvim_get_mode().mode == 'n'
      end)
    end
  end,
  finally = function()
    -- No error may have reached :messages during the whole run.
    local messages = vim.fn.execute('messages')
    local function allowed(line)
      for _, pattern in ipairs(H.allowed_errors) do
        if line:find(pattern, 1, true) then
          return true
        end
      end
      return false
    end
    local bad = vim.tbl_filter(function(line)
      return not allowed(line)
    end, notified_errors)
    for _, line in ipairs(vim.split(messages, '\n', { plain = true })) do
      if (line:match('^E%d+:') or line:match('^Error') or line:match('stack traceback')
        or line:match('%]%[Error%]') or line:match('^LSP%[.-%].*[Ee]rror') and not line:match('syntax error'))
        and not allowed(line) then
        table.insert(bad, line)
      end
    end
    if #bad > 0 then
      error('errors in :messages:\n' .. table.concat(bad, '\n'))
    end
    H.out('ok   no errors in :messages')
  end,
})
