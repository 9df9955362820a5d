--- User commands :DiffusionRefine, :DiffusionFill, :DiffusionFix and :DiffusionStatus. Each sends the
--- matching `diffusionLsp.*` workspace command; the server applies its edit with workspace/applyEdit.
local M = {}

local api = vim.api
local position = require('diffusion_lsp.position')
local server = require('diffusion_lsp.server')
local status = require('diffusion_lsp.status')

local MAXCOL = 2147483647
local REQUEST_CANCELLED = -32800

local function notify(message, level)
  vim.notify('diffusion_lsp: ' .. message, level or vim.log.levels.INFO)
end

local get_line = position.get_line

--- Bytes in the UTF-8 character that starts at byte `col` (1-based) of `line`.
local function char_len(line, col)
  local b = line:byte(col)
  if not b then
    return 0
  end
  if b < 0x80 then
    return 1
  elseif b < 0xE0 then
    return 2
  elseif b < 0xF0 then
    return 3
  end
  return 4
end

local lsp_position = position.lsp_position

--- The LSP range a command works on, from its `opts` (as nvim_create_user_command passes them).
--- No range: `default` ('cursor' = an empty range at the cursor, 'none' = nil). A range that matches the
--- last visual selection uses its columns (characterwise) or whole lines; any other range: whole lines.
function M.range_from_command(bufnr, opts, encoding, default)
  if opts.range == 0 then
    if default == 'none' then
      return nil
    end
    local pos = api.nvim_win_get_cursor(0)
    local p = lsp_position(bufnr, pos[1] - 1, pos[2], encoding)
    return { start = p, ['end'] = p }
  end
  local first, last = opts.line1 - 1, opts.line2 - 1
  local vstart, vend = vim.fn.getpos("'<"), vim.fn.getpos("'>")
  if vim.fn.visualmode() == 'v' and vstart[2] == opts.line1 and vend[2] == opts.line2 then
    local end_line = get_line(bufnr, last)
    local end_col = vend[3] >= MAXCOL and #end_line or (vend[3] - 1 + char_len(end_line, vend[3]))
    return {
      start = lsp_position(bufnr, first, vstart[3] - 1, encoding),
      ['end'] = lsp_position(bufnr, last, end_col, encoding),
    }
  end
  return {
    start = { line = first, character = 0 },
    ['end'] = lsp_position(bufnr, last, #get_line(bufnr, last), encoding),
  }
end

local function attached_client(bufnr)
  local client = server.client_for_buf(bufnr)
  if not client then
    notify(string.format("the server is not attached to this buffer (filetype '%s'); see :DiffusionStatus",
      vim.bo[bufnr].filetype), vim.log.levels.ERROR)
  end
  return client
end

--- Runs workspace command `name` on `range` of `bufnr`; calls `done(result)` when the server answers.
function M.run(name, bufnr, range, done)
  bufnr = (bufnr == nil or bufnr == 0) and api.nvim_get_current_buf() or bufnr
  local client = attached_client(bufnr)
  if not client then
    return false
  end
  local arguments = { vim.uri_from_bufnr(bufnr), range or vim.NIL }
  local ok = server.execute_command(client, 'diffusionLsp.' .. name, arguments, function(err, result)
    if err and err.code == REQUEST_CANCELLED then
      notify(name .. ' cancelled')
    elseif err then
      notify(string.format('%s failed: %s', name, err.message or vim.inspect(err)), vim.log.levels.ERROR)
    elseif type(result) == 'table' and result.message and result.message ~= '' then
      notify(result.message, result.applied and vim.log.levels.INFO or vim.log.levels.WARN)
    end
    if done then
      done(err, result)
    end
  end, bufnr)
  if not ok then
    notify(name .. ': the request could not be sent (is the server running?)', vim.log.levels.ERROR)
  end
  return ok
end

local function command_handler(name, default)
  return function(opts)
    local bufnr = api.nvim_get_current_buf()
    local client = attached_client(bufnr)
    if not client then
      return
    end
    local range = M.range_from_command(bufnr, opts, client.offset_encoding or 'utf-16', default)
    M.run(name, bufnr, range)
  end
end

--- The in-flight part of :DiffusionStatus: requests, progress jobs, last latencies, auto-trigger.
function M.activity_lines()
  local jobs = require('diffusion_lsp.jobs')
  local inline = require('diffusion_lsp.inline')
  local out = {}
  local kinds = {}
  for _, r in pairs(jobs.requests) do
    kinds[r.kind] = (kinds[r.kind] or 0) + 1
  end
  local parts = {}
  for kind, n in pairs(kinds) do
    table.insert(parts, string.format('%s %d', kind, n))
  end
  table.sort(parts)
  table.insert(out, 'in flight: ' .. (#parts > 0 and table.concat(parts, ', ') or 'nothing'))
  for _, p in ipairs(jobs.running()) do
    table.insert(out, 'running: ' .. jobs.format_progress(p) .. (p.cancellable and ' (:DiffusionCancel stops it)'
      or ''))
  end
  local last = {}
  for kind, ms in pairs(jobs.last_ms) do
    table.insert(last, string.format('%s %d ms', kind, math.floor(ms + 0.5)))
  end
  table.sort(last)
  if #last > 0 then
    table.insert(out, 'last round trip: ' .. table.concat(last, ', '))
  end
  local cfg = require('diffusion_lsp').config
  if cfg and cfg.inline.enabled then
    table.insert(out, 'automatic suggestions: ' .. (inline.auto_enabled() and 'on' or 'off (:DiffusionToggle)'))
  end
  return out
end

local function echo_status(current)
  local chunks = { { 'diffusion-lsp: ' .. status.format(current) } }
  for _, line in ipairs(M.activity_lines()) do
    table.insert(chunks, { '\n  ' .. line })
  end
  api.nvim_echo(chunks, true, {})
end

--- Prints the server's status (asks the server when it runs; else shows what is known), what is in
--- flight and the last latencies.
function M.show_status()
  local client = server.get_client()
  if not client then
    echo_status(status.current)
    return
  end
  server.execute_command(client, 'diffusionLsp.status', {}, function(err, result)
    local current = status.current
    if not err and type(result) == 'table' and result.state then
      status.update(client.id, result)
      current = result
    end
    echo_status(current)
  end)
end

--- :DiffusionToggle: automatic suggestions on/off (`on` nil: flip).
function M.toggle(on)
  local inline = require('diffusion_lsp.inline')
  if on == nil then
    on = not inline.auto_enabled()
  end
  inline.set_auto(on)
  local cfg = require('diffusion_lsp').config
  local trigger = cfg and cfg.inline.keys.trigger
  notify('automatic suggestions ' .. (on and 'on' or ('off' .. (trigger and (' (' .. trigger .. ' still asks)') or ''))))
  return on
end

--- :DiffusionCancel: asks the server to stop its cancellable progress jobs
--- (window/workDoneProgress/cancel), cancels Fill/Fix/Refine requests that have no job yet and pending
--- inline requests ($/cancelRequest). Returns how many things were cancelled.
function M.cancel()
  local jobs = require('diffusion_lsp.jobs')
  local client = server.get_client()
  local n = 0
  local sent_job = false
  if client then
    for _, p in ipairs(jobs.running()) do
      if p.cancellable and p.client_id == client.id and not p.cancel_sent then
        jobs.progress[p.token].cancel_sent = true
        server.notify(client, 'window/workDoneProgress/cancel', { token = p.token })
        n = n + 1
        sent_job = true
      end
    end
    if not sent_job then
      for _, r in pairs(vim.deepcopy(jobs.requests)) do
        if r.kind ~= 'inline' and r.client_id == client.id then
          server.cancel_request(client, r.id)
          n = n + 1
        end
      end
    end
  end
  n = n + require('diffusion_lsp.inline').cancel_pending_all()
  notify(n > 0 and string.format('cancelling %d job(s)', n) or 'nothing to cancel')
  return n
end

--- Maps `cancel_key` (normal and insert mode) in `bufnr`.
function M.map_cancel_key(bufnr)
  local cfg = require('diffusion_lsp').config
  if cfg and cfg.cancel_key then
    vim.keymap.set({ 'n', 'i' }, cfg.cancel_key, M.cancel, { buffer = bufnr, silent = true,
      desc = 'diffusion_lsp: cancel the running jobs and pending suggestions' })
  end
end

function M.create()
  api.nvim_create_user_command('DiffusionRefine', command_handler('refine', 'cursor'),
    { range = true, desc = 'diffusion-lsp: rewrite the selected text' })
  api.nvim_create_user_command('DiffusionFill', command_handler('fill', 'cursor'),
    { range = true, desc = 'diffusion-lsp: fill the hole(s) at the cursor or in the range' })
  api.nvim_create_user_command('DiffusionFix', command_handler('fix', 'none'),
    { range = true, desc = 'diffusion-lsp: fix the syntax error(s) in the range or the file' })
  api.nvim_create_user_command('DiffusionStatus', M.show_status,
    { desc = 'diffusion-lsp: show the model status, what is in flight and the last latencies' })
  api.nvim_create_user_command('DiffusionToggle', function()
    M.toggle()
  end, { desc = 'diffusion-lsp: automatic suggestions on/off' })
  api.nvim_create_user_command('DiffusionCancel', function()
    M.cancel()
  end, { desc = 'diffusion-lsp: cancel the running Fill/Fix/Refine jobs and pending suggestions' })
  M.create_next_edit()
end

--- :DiffusionNextEdit (ask now), :DiffusionNextEditJump, :DiffusionNextEditAccept, :DiffusionNextEditDismiss.
function M.create_next_edit()
  local next_edit = require('diffusion_lsp.next_edit')
  local function when_shown(action, what)
    return function()
      if not action() then
        notify('no next edit on display to ' .. what)
      end
    end
  end
  api.nvim_create_user_command('DiffusionNextEdit', function()
    next_edit.request(0, true)
  end, { desc = 'diffusion-lsp: ask for the next edit now' })
  api.nvim_create_user_command('DiffusionNextEditJump', when_shown(next_edit.jump, 'jump to'),
    { desc = 'diffusion-lsp: go to the next edit' })
  api.nvim_create_user_command('DiffusionNextEditAccept', when_shown(next_edit.accept, 'accept'),
    { desc = 'diffusion-lsp: apply the next edit' })
  api.nvim_create_user_command('DiffusionNextEditDismiss', when_shown(next_edit.dismiss, 'dismiss'),
    { desc = 'diffusion-lsp: dismiss the next edit' })
end

return M
